// SQLite's own cost of a Roster `read`, without HTTP, diesel or Roster: the statement Roster sends
// (the caller's API token joined to its account and to the target account by id), prepared once,
// run on its own as Roster runs it, every column read as text.
//
// Build against the SQLite that Roster bundles, with the flags libsqlite3-sys and
// .cargo/config.toml give it (one gcc command, four lines here), then point it at a database
// `roster serve` created and seeded (it takes the first API token's hash and 20,000 random
// account ids from it):
//
//   SQLITE=$(dirname $(find ~/.cargo/registry/src -path '*libsqlite3-sys-0.35*/sqlite3/sqlite3.c' | head -1))
//   gcc -O3 -I$SQLITE -DSQLITE_CORE -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_ENABLE_API_ARMOR
//     -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_MEMORY_MANAGEMENT -DSQLITE_ENABLE_STAT4
//     -DSQLITE_USE_URI -DHAVE_USLEEP=1 -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_THREADSAFE=2
//     -DSQLITE_ENABLE_QPSG -o /tmp/sqlite_read bench/floor/sqlite_read.c $SQLITE/sqlite3.c -lpthread -ldl -lm
//   /tmp/sqlite_read data/roster.db 1 5      # usage: DB THREADS SECONDS
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sqlite3.h"

static const char *path; static int seconds; static char hash[80]; static char **ids; static int nids;
static const char *Q = "SELECT `api_tokens`.`id`, `api_tokens`.`expires_at`, `api_tokens`.`last_used_at`, `users`.`id`, `users`.`username`, `users`.`roles`, `users`.`active`, `users`.`locked_at`, `users`.`expires_at`, `target`.`id`, `target`.`username`, `target`.`email`, `target`.`first_name`, `target`.`last_name`, `target`.`origin`, `target`.`location`, `target`.`erp_id`, `target`.`external_key`, `target`.`locale`, `target`.`active`, `target`.`mfa_required`, `target`.`mfa_enabled`, `target`.`expires_at`, `target`.`email_notifications`, `target`.`password_hash`, `target`.`created_at`, `target`.`updated_at`, `target`.`created_by`, `target`.`updated_by`, `target`.`activated_at`, `target`.`last_active_at`, `target`.`locked_at`, `target`.`version`, `target`.`roles` FROM ((`api_tokens` INNER JOIN `users` ON (`api_tokens`.`user_id` = `users`.`id`)) LEFT OUTER JOIN `users` AS `target` ON (`target`.`id` = ?)) WHERE (`api_tokens`.`token_hash` = ?)";

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
static void die(sqlite3 *db, const char *what) { fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db)); exit(1); }
static long consume(sqlite3_stmt *s) {
  long n = 0;
  while (sqlite3_step(s) == SQLITE_ROW)
    for (int i = 0; i < sqlite3_column_count(s); i++) { const unsigned char *t = sqlite3_column_text(s, i); n += t ? sqlite3_column_bytes(s, i) : 0; }
  sqlite3_reset(s);
  return n;
}
static void *run(void *arg) {
  sqlite3 *db; sqlite3_stmt *q; long *done = arg, sink = 0;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)) die(db, "open");
  sqlite3_exec(db, "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", 0, 0, 0);
  if (sqlite3_prepare_v2(db, Q, -1, &q, 0)) die(db, "prepare");
  unsigned seed = (unsigned)(size_t)arg;
  double end = now() + seconds;
  while (now() < end) {
    for (int k = 0; k < 100; k++) {
      sqlite3_bind_text(q, 1, ids[rand_r(&seed) % nids], -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
      sink += consume(q);
      (*done)++;
    }
  }
  return (void *)sink;
}
int main(int argc, char **argv) {
  path = argv[1]; int threads = atoi(argv[2]); seconds = atoi(argv[3]);
  sqlite3 *db; sqlite3_stmt *s;
  if (sqlite3_open(path, &db)) die(db, "open");
  sqlite3_prepare_v2(db, "SELECT token_hash FROM api_tokens LIMIT 1", -1, &s, 0);
  if (sqlite3_step(s) != SQLITE_ROW) die(db, "no token"); strcpy(hash, (const char *)sqlite3_column_text(s, 0)); sqlite3_finalize(s);
  ids = malloc(sizeof(char *) * 20000);
  sqlite3_prepare_v2(db, "SELECT id FROM users ORDER BY random() LIMIT 20000", -1, &s, 0);
  while (sqlite3_step(s) == SQLITE_ROW) ids[nids++] = strdup((const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s); sqlite3_close(db);
  pthread_t t[64]; long done[64] = {0};
  double started = now();
  for (int i = 0; i < threads && i < 64; i++) pthread_create(&t[i], 0, run, &done[i]);
  long total = 0; for (int i = 0; i < threads && i < 64; i++) { pthread_join(t[i], 0); total += done[i]; }
  double took = now() - started;
  printf("%d threads: %ld reads in %.1f s = %.0f/s, %.1f us each per thread\n", threads, total, took,
         total / took, took * 1e6 * threads / total);
  return 0;
}
