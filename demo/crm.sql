-- The demo's second source: a CRM database with other names and types for overlapping data.
CREATE TABLE clients (
    client_no     integer PRIMARY KEY,
    first_name    text,
    last_name     text,
    email_address varchar(200),
    mobile        text,
    created       timestamptz,
    country_code  char(2),
    lifetime_value numeric(12, 2),
    is_active     boolean
);
INSERT INTO clients VALUES
 (1, 'Jane', 'Doe', 'jane.doe@example.com', '+15550100', '2024-01-15 09:30:00+00', 'US', 25.00, true),
 (2, 'Bob', 'Martin', 'bob@example.com', '+15550102000', '2024-02-15 12:00:00+00', 'US', -3.50, true),
 (7, 'Priya', 'Patel', 'priya@example.in', NULL, '2024-07-01 08:00:00+00', 'IN', 0, false),
 (8, 'Tom', NULL, 'TOM@EXAMPLE.COM ', '+44 20 0000 0000', NULL, 'GB', NULL, NULL);

CREATE TABLE sales (
    id           bigint PRIMARY KEY,
    client_no    integer REFERENCES clients,
    sold_at      timestamp,
    total_cents  integer,
    items        jsonb,
    note         text
);
INSERT INTO sales VALUES
 (1, 1, '2024-02-01 10:00', 1999, '[{"sku": "A-1", "qty": 2}]', NULL),
 (2, 2, '2024-02-10 11:11', -350, '[{"sku": "A-2", "qty": 1}]', 'refund'),
 (3, 7, '2024-07-02 09:00', 12000, '[]', 'note with ; semicolon and ''quotes'''),
 (4, 8, '2024-07-03 18:45', 0, NULL, 'free sample');
