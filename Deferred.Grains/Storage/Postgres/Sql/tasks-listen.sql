-- A silo's listening connection: woken by tasks-notify.sql.
LISTEN deferred_tasks;
