-- 0010: demo_completions (0006) is the sample host's ledger, not part of Deferred's schema. Deferred.Silo now
-- creates it itself when the demo or the chaos client needs it (Deferred.Silo/Demo/Sql/create-ledger.sql), so
-- the product migrations leave no sample table behind. Its rows are lost with it; they only ever held demo runs.
DROP TABLE IF EXISTS demo_completions;
