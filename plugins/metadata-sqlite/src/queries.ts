/** SQL the store runs that its tests also check the query plans of. */

/**
 * The executions with an edge of a role to a digest, in recording order: those
 * with edge rows of their own, and the cached ones that borrow them (`edges_from`).
 * An execution with two such edges is listed twice, as the edge rows list it.
 */
export const EDGES_OF = `SELECT id FROM (
  SELECT e.seq, e.id FROM execution_artifacts ea JOIN executions e ON e.id = ea.execution_id
  WHERE ea.digest = @digest AND ea.role = @role
  UNION ALL
  SELECT c.seq, c.id FROM execution_artifacts ea JOIN executions c ON c.edges_from = ea.execution_id
  WHERE ea.digest = @digest AND ea.role = @role
) ORDER BY seq`;
