/** SQL the store runs that its tests also check the query plans of. */

/**
 * The executions with an edge of a role to a digest, in recording order: those
 * with edge rows of their own, and the cached ones that borrow them (`edges_from`),
 * found by walking each owner's chain of borrowers from the newest (migration 5).
 * An execution with two such edges is listed twice, as the edge rows list it.
 */
export const EDGES_OF = `WITH RECURSIVE
  owners (seq, id) AS (
    SELECT e.seq, e.id FROM execution_artifacts ea JOIN executions e ON e.id = ea.execution_id
    WHERE ea.digest = @digest AND ea.role = @role
  ),
  borrowers (seq) AS (
    SELECT t.tail FROM owners o JOIN edges_tails t ON t.source = o.id
    UNION ALL
    SELECT l.prev FROM borrowers b JOIN edges_links l ON l.seq = b.seq WHERE l.prev IS NOT NULL
  )
SELECT id FROM (
  SELECT seq, id FROM owners
  UNION ALL
  SELECT c.seq, c.id FROM borrowers b JOIN executions c ON c.seq = b.seq
) ORDER BY seq`;
