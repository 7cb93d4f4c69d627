begin;
SELECT vector_dims(eai.embed('customer_email')) AS dims,
       round(vector_norm(eai.embed('customer_email'))::numeric, 3) AS norm;
-- The sentence-transformers reference: cosine("customer_email", "client e-mail address") ≈ 0.64.
SELECT round((1 - (eai.embed('customer_email') <=> eai.embed('client e-mail address')))::numeric, 2) AS cosine;
-- Related names are closer than unrelated ones.
SELECT (eai.embed('dob') <=> eai.embed('date of birth')) < (eai.embed('dob') <=> eai.embed('order total')) AS closer;
-- Batch: order kept, NULL stays NULL, same vectors as one by one.
SELECT cardinality(v) AS n, v[2] IS NULL AS null_kept, v[1] = eai.embed('zip code') AS same
  FROM (SELECT eai.embed_batch(ARRAY['zip code', NULL, 'postal code']) AS v) s;
SELECT eai.embed(NULL) IS NULL AS strict, cardinality(eai.embed_batch('{}')) AS empty_batch;
-- Unicode and long input (truncated to the model's 256 tokens).
SELECT vector_dims(eai.embed('Zoë Müller — 東京 🙂')) AS unicode_dims,
       vector_dims(eai.embed(repeat('very long text ', 2000))) AS long_dims;
rollback;
