-- Orphan sweep and stranded-task audit over the stock store: one page of live task ids (with owner and due
-- time) in key order after @after.
-- Live = stored as Pending or Failed, unless it waits on a durable reminder that is not due yet (the
-- reminder will wake it). Rows whose JSON cannot be read are included (owner NULL) so a grain can mark them
-- dead. The caller keeps only tasks whose owner is gone. Served by ix_orleansstorage_deferred_scan (0005).
SELECT s.grainidextensionstring, d.doc ->> 'owner', (d.doc ->> 'nextRunAt')::timestamptz
FROM orleansstorage AS s
CROSS JOIN LATERAL (SELECT deferred_try_jsonb(s.payloadbinary) AS doc) AS d
WHERE s.serviceid = @service_id
  AND s.graintypestring = @state_name
  AND s.payloadbinary IS NOT NULL
  AND s.grainidn0 = 0
  AND s.grainidn1 = 0
  AND s.grainidextensionstring > @after
  AND (
        d.doc IS NULL
     OR (d.doc ->> 'status' IN ('Pending', 'Failed')
         AND (coalesce((d.doc ->> 'hasReminder')::boolean, false) = false
              OR (d.doc ->> 'nextRunAt')::timestamptz <= @now))
  )
ORDER BY s.grainidextensionstring
LIMIT @page_size;
