\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
SELECT current_setting('data_directory') AS datadir \gset
\set file0 :datadir '/regress_sales.csv'
begin;
COPY (VALUES ('order_id,customer,day,amount'), ('1,ann,2024-01-01,10.5'), ('2,bob,2024-01-01,4'),
             ('3,ann,2024-01-02,7'), ('4,cy,2024-01-02,2.5')) TO :'file0' WITH (FORMAT text);
SELECT count(*) FROM eai.add_source('sales', :'file0');
SELECT status FROM eai.ingest('sales');
SELECT name FROM eai.create_pipeline('sales', 'bronze.sales__regress_sales', 'silver.sales', dedup_key => '{order_id}');
-- Gold from a query over silver: created, filled, commented for BI tools.
SELECT name, inputs::regclass[], rows, refreshes FROM eai.create_gold('daily_sales',
  'SELECT s.day, count(*) AS orders, sum(s.amount) AS revenue, count(DISTINCT s.customer) AS customers
     FROM silver.sales s GROUP BY s.day', 'Revenue per day, from validated orders.');
SELECT * FROM gold.daily_sales ORDER BY day;
SELECT obj_description('gold.daily_sales'::regclass, 'pg_class') AS table_comment;
SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a
 WHERE a.attrelid = 'gold.daily_sales'::regclass AND a.attnum > 0 ORDER BY a.attnum;
SELECT column_name, input_table, input_column FROM eai.gold_columns ORDER BY 1, 2, 3;
-- A gold query that will fail once a day has a single order (division by zero).
SELECT name FROM eai.create_gold('ratio', 'SELECT day, 100 / (count(*) - 1) AS pct FROM silver.sales GROUP BY day');
-- Gold over gold, refreshed in order after each promotion into silver.sales.
SELECT name FROM eai.create_gold('best_day', 'SELECT day, revenue FROM gold.daily_sales ORDER BY revenue DESC LIMIT 1');
COPY (VALUES ('order_id,customer,day,amount'), ('5,dee,2024-01-03,100')) TO :'file0' WITH (FORMAT text);
SELECT status FROM eai.ingest('sales');
SELECT * FROM gold.daily_sales ORDER BY day;
SELECT * FROM gold.best_day;
-- The failing gold query kept its table's last good content and recorded why; the promotion stands.
SELECT name, rows, refreshes, last_sqlstate, last_error FROM eai.gold_tables ORDER BY gold_id;
SELECT count(*) AS order_5_promoted FROM silver.sales WHERE order_id = 5;
SELECT * FROM gold.ratio ORDER BY day;
-- Column lineage: upstream from a gold column to the file, downstream from a bronze column to gold.
SELECT direction, depth, kind, from_table, from_column, to_table, to_column
  FROM eai.lineage('gold.best_day', 'revenue', 'upstream');
SELECT direction, depth, kind, from_table, from_column, to_table, to_column, detail ->> 'pipeline' AS pipeline
  FROM eai.lineage('bronze.sales__regress_sales', 'amount', 'downstream');
SELECT count(*) > 0 AS has_both FROM eai.lineage('silver.sales');
-- Bad gold definitions are clear errors.
SELECT eai.create_gold('daily_sales', 'SELECT 1');
SELECT eai.create_gold('bad', 'SELEC nothing');
SELECT eai.create_gold('bad', 'DELETE FROM silver.sales RETURNING *');
SELECT eai.create_gold('bad', 'SELECT 1 AS one');
SELECT eai.create_gold('bad', 'SELECT * FROM bronze.sales__regress_sales');
SELECT eai.drop_gold('daily_sales');
SELECT eai.lineage('silver.sales', 'nope');
SELECT eai.lineage('silver.sales', NULL, 'sideways');
SELECT eai.drop_gold('best_day');
SELECT eai.drop_gold('daily_sales');
SELECT eai.drop_gold('ratio');
SELECT name FROM eai.gold_tables;
-- Hostile names.
SELECT name FROM eai.create_gold('dé"il; --', 'SELECT day AS "da""y", sum(amount) AS "€;" FROM silver.sales GROUP BY day');
SELECT * FROM gold."dé""il; --" ORDER BY 1;
SELECT column_name, input_column FROM eai.gold_columns gc JOIN eai.gold_tables g USING (gold_id) WHERE g.name = 'dé"il; --' ORDER BY 1;
rollback;
