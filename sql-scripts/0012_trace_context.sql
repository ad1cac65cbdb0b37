-- 0012: the W3C trace context of the enqueue, stored with the task so that every attempt continues the
-- enqueuer's trace (and its baggage reaches the handler), however long after the enqueue it runs.
--
-- trace_parent  the `traceparent` of the enqueue's producer span
-- trace_state   its `tracestate`, when there is one
-- baggage       the W3C `baggage` header value of the enqueuing code, when there is any
-- Written once, by the insert; never updated.
ALTER TABLE deferred_tasks
    ADD COLUMN IF NOT EXISTS trace_parent text,
    ADD COLUMN IF NOT EXISTS trace_state text,
    ADD COLUMN IF NOT EXISTS baggage text;
