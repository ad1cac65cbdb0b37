-- 0005: what Deferred's recovery scan needs on top of the Orleans persistence table (0002).
--
-- Deferred stores each task as one orleansstorage row: graintypestring = 'deferred-task' (the state name),
-- the task id whole in grainidextensionstring (ids always contain a non-hex character, so grainidn0 and
-- grainidn1 are 0), and the task state as UTF-8 JSON in payloadbinary.

-- Keyset paging over one service's task rows in id order: the scan reads "ids after X, LIMIT n" from
-- this index and never sorts or loads the whole table. Completed tasks are deleted, so the index holds
-- only pending, failed and dead tasks.
CREATE INDEX IF NOT EXISTS ix_orleansstorage_deferred_scan
    ON orleansstorage (serviceid, graintypestring, grainidextensionstring)
    WHERE payloadbinary IS NOT NULL;

-- The state JSON of a row, or NULL when the bytes are not UTF-8 JSON. A corrupt row must not make the
-- whole scan fail; the scan returns it so the task grain can record it as dead with the reason.
-- (PostgreSQL 15 has no pg_input_is_valid, hence the exception block.)
CREATE OR REPLACE FUNCTION deferred_try_jsonb(_payload bytea)
    RETURNS jsonb
    LANGUAGE plpgsql
    IMMUTABLE
    PARALLEL SAFE
AS $function$
BEGIN
    RETURN convert_from(_payload, 'UTF8')::jsonb;
EXCEPTION
    WHEN invalid_text_representation OR character_not_in_repertoire OR untranslatable_character THEN
        RETURN NULL;
END
$function$;
