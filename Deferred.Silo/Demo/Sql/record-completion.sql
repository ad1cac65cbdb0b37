INSERT INTO demo_completions (task_id, run_id, silo_pid, attempt, kind) VALUES (@task_id, @run_id, @silo_pid, @attempt, @kind);
