-- Stores the latest progress report of task @task_id's running attempt (one row per task; the newer report wins).
INSERT INTO deferred_task_progress (service_id, task_id, fraction, message, updated_at)
VALUES (@service_id, @task_id, @fraction, @message, @at)
ON CONFLICT (service_id, task_id) DO UPDATE
    SET fraction = excluded.fraction,
        message = excluded.message,
        updated_at = excluded.updated_at
    WHERE deferred_task_progress.updated_at <= excluded.updated_at;
