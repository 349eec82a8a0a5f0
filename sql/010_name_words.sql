-- 010_name_words.sql: the name search looks up the beginnings of the name's words (issue 17).
--
-- Staff type the start of a name ("love", "ada love"); the list and the API find every appointment whose
-- patient name has a word beginning with each typed word, in any case. The trigram index of migration 006
-- answered "any part of the name", but its cost grows with the table: each trigram of a search is in a
-- share of all names (at 10 million appointments a name search read tens of thousands of index entries
-- and took 20 ms, against 2 ms on an empty database). A word index holds two or three entries per name
-- instead of about twenty, and a prefix of a word finds only the names with such a word.
--
-- The words come from PostgreSQL's text parser with the 'simple' configuration (lower case, no stemming,
-- no stop words), the same on both sides: the module turns the search into a prefix query with
-- to_tsvector('simple', search) too.
--
-- On a large existing database this CREATE INDEX blocks bookings while it builds; to avoid that, build it
-- first with CREATE INDEX CONCURRENTLY and the same name and definition (the migration then skips it).
CREATE INDEX IF NOT EXISTS appointments_patient_name_words_idx
    ON appointments USING gin (to_tsvector('simple', patient_name));

-- No statement uses the trigram index any more; each booking would still pay for its ~20 entries.
DROP INDEX IF EXISTS appointments_patient_name_trgm_idx;
