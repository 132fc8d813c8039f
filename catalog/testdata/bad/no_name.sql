-- result: one
SELECT 1;
