-- hookwire PostgreSQL schema, version 3: endpoints no longer carry a
-- private-targets flag. Which targets may be sent to is the dispatcher's
-- setting, checked whenever an endpoint is added and at every attempt.

ALTER TABLE {schema}.endpoints DROP COLUMN allow_private;
