-- What the live Home tab last showed each viewer (the fingerprint of what it shows), since when,
-- and whether that publish was done. A replica claims a viewer's publish by writing the
-- fingerprint, so each change is published once whatever the number of replicas.
ALTER TABLE home_viewers ADD COLUMN shown TEXT;
ALTER TABLE home_viewers ADD COLUMN shown_at TIMESTAMPTZ;
ALTER TABLE home_viewers ADD COLUMN published BOOLEAN NOT NULL DEFAULT FALSE;
