-- The TechEmpower database, loaded into the harness's throwaway PostgreSQL cluster.
-- Run as benchmarkdbuser on database hello_world, so the tables belong to the role the
-- contenders log in as.
--
-- Unquoted names fold to lower case: the tables are `world` and `fortune` and the column is
-- `randomnumber`, which is what every contender's SQL names.

CREATE TABLE world (
    id           integer NOT NULL PRIMARY KEY,
    randomnumber integer NOT NULL DEFAULT 0
);

-- 10,000 rows, ids 1..10000, random numbers 1..10000.
INSERT INTO world (id, randomnumber)
SELECT g, floor(random() * 10000)::integer + 1
FROM generate_series(1, 10000) AS g;

CREATE TABLE fortune (
    id      integer NOT NULL PRIMARY KEY,
    message varchar(2048) NOT NULL
);

-- The twelve standard fortunes, byte for byte: the <script> one tests HTML escaping, the
-- Japanese one tests UTF-8 end to end, and the em dashes are U+2014.
INSERT INTO fortune (id, message) VALUES
    (1, 'fortune: No such file or directory'),
    (2, 'A computer scientist is someone who fixes things that aren''t broken.'),
    (3, 'After enough decimal places, nobody gives a damn.'),
    (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
    (5, 'A computer program does what you tell it to do, not what you want it to do.'),
    (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
    (7, 'Any program that runs right is obsolete.'),
    (8, 'A list is only as strong as its weakest link. — Donald Knuth'),
    (9, 'Feature: A bug with seniority.'),
    (10, 'Computers make very fast, very accurate mistakes.'),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, 'フレームワークのベンチマーク');

-- Fresh statistics so the first queries already get index scans.
ANALYZE world;
ANALYZE fortune;
