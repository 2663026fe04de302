-- Console logins are revoked through the database, not process memory (issue 21 §11).
--
-- Every admin JWT carries the generation its user had when it was signed; a request is refused
-- once the row's generation has moved on. Logout and a password change bump it, so they end
-- every console session of that account, and a broker restart forgets nothing.
ALTER TABLE users ADD COLUMN admin_token_gen INTEGER NOT NULL DEFAULT 0;
