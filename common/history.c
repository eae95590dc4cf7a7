/* history.c — see history.h. */
#include "history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int history_read(struct pgpool *db, const struct envelope *const *envs, size_t n, long limit,
                 PGresult **out, char *err, size_t errlen)
{
    *out = NULL;
    const char **col = malloc((n ? n : 1) * sizeof *col);
    char *arr[4] = {NULL, NULL, NULL, NULL};
    int rc = -ENOMEM;
    if (!col)
        goto done;
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < n; i++) {
            const struct envelope *e = envs[i];
            const char *v = k == 0   ? e->job_id
                            : k == 1 ? e->tenant_id
                            : k == 2 ? e->session_id
                                     : e->message_id;
            col[i] = v[0] ? v : NULL;
        }
        if (!(arr[k] = pg_text_array(col, n)))
            goto done;
    }
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit > 0 ? limit : 0L);
    const char *params[] = {arr[0], arr[1], arr[2], arr[3], lim};
    /* The moves to 'running' ride in the same round trip (a data-modifying WITH runs exactly
     * once); the SELECT sees the messages as they were before it. */
    rc = pgpool_exec(
        db, out,
        "WITH q AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[]) "
        "WITH ORDINALITY AS q(job_id, tenant_id, session_id, message_id, ord)), "
        "run AS (UPDATE jobs j SET status = 'running', updated_at = now() FROM q "
        "WHERE j.job_id = q.job_id AND j.tenant_id = q.tenant_id "
        "AND j.status IN ('queued', 'routed')) "
        "SELECT q.ord, h.role, h.content FROM q CROSS JOIN LATERAL ("
        "SELECT m.role, m.content, m.timestamp FROM messages m "
        "WHERE m.tenant_id = q.tenant_id AND m.session_id = q.session_id "
        "AND m.role IN ('user', 'assistant') "
        "AND m.message_id IS DISTINCT FROM q.message_id AND m.job_id IS DISTINCT FROM q.job_id "
        "AND CASE WHEN m.role = 'assistant' AND m.job_id IS NOT NULL "
        "THEN COALESCE((SELECT j.created_at FROM jobs j WHERE j.job_id = m.job_id), m.timestamp) "
        "< COALESCE((SELECT j.created_at FROM jobs j WHERE j.job_id = q.job_id), now()) "
        "ELSE m.timestamp < COALESCE((SELECT u.timestamp FROM messages u "
        "WHERE u.message_id = q.message_id AND u.tenant_id = q.tenant_id), now()) END "
        "ORDER BY m.timestamp DESC LIMIT $5::int) h "
        "ORDER BY q.ord, h.timestamp ASC",
        5, params, err, errlen);
done:
    if (rc == -ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    for (int k = 0; k < 4; k++)
        free(arr[k]);
    free(col);
    return rc;
}
