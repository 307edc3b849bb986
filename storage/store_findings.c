/*
 * store_findings: the findings table (see store_findings.h).
 */
#include "store_findings.h"

#include <string.h>

#include "store_int.h"

ls_err store_findings_migrate(sqlite3 *db, char *msg, size_t cap)
{
    return store_db_exec(
        db,
        "CREATE TABLE IF NOT EXISTS findings (  -- the advisor's findings of the whole run, ranked\n"
        "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,\n"
        "  rank INTEGER NOT NULL,  -- from 1\n"
        "  rule TEXT NOT NULL,  -- stable id: alloc.format_in_hot_path ...\n"
        "  severity TEXT NOT NULL,  -- critical warning info\n"
        "  title TEXT NOT NULL, evidence TEXT NOT NULL, where_ TEXT NOT NULL, fix TEXT NOT NULL,\n"
        "  detail TEXT,  -- the stacks behind it\n"
        "  impact REAL, confidence REAL,  -- 0..1\n"
        "  first_s INTEGER, last_s INTEGER,  -- first and last second a window fired it\n"
        "  PRIMARY KEY(session_id, rank));\n",
        "creating the findings table", msg, cap);
}

ls_err store_findings_replace(struct store *st, int64_t session_id,
                              const struct store_finding *rows, size_t n)
{
    sqlite3_stmt *del = NULL, *ins = NULL;
    ls_err e = store_db_exec(st->db, "BEGIN IMMEDIATE", "storing the findings", st->errmsg,
                             sizeof(st->errmsg));
    if (e != LS_OK)
        return e;
    e = store_db_prepare(st->db, "DELETE FROM findings WHERE session_id = ?1", &del, st->errmsg,
                         sizeof(st->errmsg));
    if (e == LS_OK)
        e = store_db_prepare(
            st->db,
            "INSERT INTO findings(session_id, rank, rule, severity, title, evidence,"
            " where_, fix, detail, impact, confidence, first_s, last_s)"
            " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
            &ins, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        goto out;
    sqlite3_bind_int64(del, 1, session_id);
    if (sqlite3_step(del) != SQLITE_DONE)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const struct store_finding *f = &rows[i];
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, session_id);
        sqlite3_bind_int64(ins, 2, f->rank);
        sqlite3_bind_text(ins, 3, f->rule ? f->rule : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 4, f->severity ? f->severity : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 5, f->title ? f->title : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 6, f->evidence ? f->evidence : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 7, f->where ? f->where : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 8, f->fix ? f->fix : "", -1, SQLITE_TRANSIENT);
        store_bind_text(ins, 9, f->detail);
        sqlite3_bind_double(ins, 10, f->impact);
        sqlite3_bind_double(ins, 11, f->confidence);
        sqlite3_bind_int64(ins, 12, f->first_s);
        sqlite3_bind_int64(ins, 13, f->last_s);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto fail;
    }
    e = store_db_exec(st->db, "COMMIT", "storing the findings", st->errmsg, sizeof(st->errmsg));
    goto out;
fail:
    st_err(st, "storing the findings of session %lld: %s", (long long)session_id,
           sqlite3_errmsg(st->db));
    e = LS_ERR_DB;
out:
    if (e != LS_OK) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL); /* the first error is the one to tell */
    }
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return e;
}

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

ls_err store_findings_each(struct store *st, int64_t session_id, store_finding_fn fn, void *ctx,
                           size_t *count)
{
    sqlite3_stmt *s = NULL;
    size_t n = 0;
    ls_err e = store_db_prepare(st->db,
                                "SELECT rank, rule, severity, title, evidence, where_, fix, detail,"
                                " impact, confidence, first_s, last_s FROM findings"
                                " WHERE session_id = ?1 ORDER BY rank",
                                &s, st->errmsg, sizeof(st->errmsg));
    if (e != LS_OK)
        goto out;
    sqlite3_bind_int64(s, 1, session_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_finding f = {.rank = (uint32_t)sqlite3_column_int64(s, 0),
                                  .rule = col(s, 1),
                                  .severity = col(s, 2),
                                  .title = col(s, 3),
                                  .evidence = col(s, 4),
                                  .where = col(s, 5),
                                  .fix = col(s, 6),
                                  .detail = col(s, 7),
                                  .impact = sqlite3_column_double(s, 8),
                                  .confidence = sqlite3_column_double(s, 9),
                                  .first_s = sqlite3_column_int64(s, 10),
                                  .last_s = sqlite3_column_int64(s, 11)};
        n++;
        if (fn != NULL && fn(ctx, &f) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        st_err(st, "reading the findings of session %lld: %s", (long long)session_id,
               sqlite3_errmsg(st->db));
        e = LS_ERR_DB;
    }
out:
    sqlite3_finalize(s);
    if (count != NULL)
        *count = n;
    return e;
}
