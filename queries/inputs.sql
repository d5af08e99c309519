-- name: inputs
-- description: What the run read: input files by status (read, skipped, failed) and reason, with the
--   events taken from them. Proof of coverage; the files table lists every file.
-- columns: status, label, files, records
SELECT
    status,
    COALESCE(label, '') AS label,
    COUNT(*) AS files,
    SUM(records) AS records
FROM files
GROUP BY status, COALESCE(label, '')
ORDER BY status, label
