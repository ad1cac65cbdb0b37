INSERT INTO demo_completions (task_id, run_id) VALUES (@task_id, @run_id);
