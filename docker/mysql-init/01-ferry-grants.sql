-- The ferry account (created by the image from MYSQL_USER/MYSQL_PASSWORD)
-- reads every schema and the binary log, like a replica.
GRANT SELECT, RELOAD, SHOW DATABASES, SHOW VIEW, EVENT, TRIGGER, LOCK TABLES,
      REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'ferry'@'%';
-- ...and needs full rights on the application schema when it is the
-- destination of a reverse link.
GRANT ALL PRIVILEGES ON app.* TO 'ferry'@'%';
