"""Four source edits applied to FerretDB v1.24.2 before it is built.

Why: FerretDB builds each collection's `_id` index on the expression `_ferretdb_sjson->"_id"`
but looks documents up by `_ferretdb_sjson->'$._id'`. Both mean the same JSON value, but
SQLite only uses an expression index for the identical expression, so every find, update
and delete by `_id` scanned the whole table (`EXPLAIN QUERY PLAN`: SCAN instead of SEARCH
USING INDEX): a write by `_id` went from 1.4 ms at 100 documents to 16 ms at 6,000.

1. Look `_id` up with `->'_id'`, which SQLite matches to the index expression.
2. Push an `_id` equality down also when the filter has more keys than `_id` (an optimistic
   `{_id, version}` update, a claim `{_id, state}`): FerretDB's handlers filter every
   returned document again in Go, so narrowing the SQL to the one row with that `_id` only
   skips rows that could never match. `_id` is unique and never an array, so no document
   the full filter would match is left out.
3. Close each statement's query as soon as that statement is applied, not when the whole
   `update` command ends. Each open query holds one of the SQLite pool's 100 connections,
   so an `update` command of 100 statements or more (a `bulk_write` of 100 `UpdateOne`s,
   which the outbox relay sends to clear what it published) waited forever for a 101st
   connection. Fewer statements were answered, only with connections held needlessly.
4. Apply the update statements of one collection one at a time. FerretDB reads the
   matching document, changes it in Go and writes the whole document back, in two steps
   that other updates can fall between, so of two concurrent updates of one document one
   was lost: routing's optimistic `update_one({_id, version})` let two handlers both win
   (tests/integration/test_ferretdb_concurrent_updates_it.py lost most of 40 concurrent
   `$push`es without this). MongoDB applies each update atomically; SQLite has one writer
   per database anyway, so this costs little.

Edits 1 and 2 are in the SQLite backend, 3 and 4 in the handler all backends share.
"""

from __future__ import annotations

from deploy.local.gobuild import SourcePatch

MODULE_DIR = "github.com/FerretDB/FerretDB/internal/backends/sqlite"
HANDLER_DIR = "github.com/FerretDB/FerretDB/internal/handler"

PATCHES = (
    SourcePatch(
        path=f"{MODULE_DIR}/metadata/metadata.go",
        old="""IDColumn = DefaultColumn + "->'$._id'\"""",
        new="""IDColumn = DefaultColumn + "->'_id'\"""",
    ),
    SourcePatch(
        path=f"{MODULE_DIR}/collection.go",
        old="""	// that logic should exist in one place
	// TODO https://github.com/FerretDB/FerretDB/issues/3235
	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)""",
        new="""	// Shopwatch: push `_id` down whatever else the filter holds; handlers re-filter.
	if params.Filter != nil && params.Filter.Has("_id") {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)""",
    ),
    SourcePatch(
        path=f"{HANDLER_DIR}/msg_update.go",
        old="""import (
	"context"
	"fmt"
""",
        new="""import (
	"context"
	"fmt"
	"sync"
""",
    ),
    SourcePatch(
        path=f"{HANDLER_DIR}/msg_update.go",
        old="""// updateDocument iterate through all documents in collection and update them.""",
        new="""// Shopwatch: one lock per "db.collection"; an update statement reads, changes and
// writes back whole documents, which is atomic only if no other update runs in between.
var shopwatchUpdateLocks sync.Map

func shopwatchUpdateLock(db, collection string) *sync.Mutex {
	lock, _ := shopwatchUpdateLocks.LoadOrStore(db+"."+collection, new(sync.Mutex))
	return lock.(*sync.Mutex)
}

// updateDocument iterate through all documents in collection and update them.""",
    ),
    SourcePatch(
        path=f"{HANDLER_DIR}/msg_update.go",
        old="""		res, err := c.Query(ctx, &qp)
		if err != nil {
			return 0, 0, nil, lazyerrors.Error(err)
		}
""",
        new="""		lock := shopwatchUpdateLock(params.DB, params.Collection)
		lock.Lock()
		res, err := c.Query(ctx, &qp)
		if err != nil {
			lock.Unlock()
			return 0, 0, nil, lazyerrors.Error(err)
		}
""",
    ),
    SourcePatch(
        path=f"{HANDLER_DIR}/msg_update.go",
        old="""		closer := iterator.NewMultiCloser()
		defer closer.Close()

		closer.Add(res.Iter)""",
        new="""		closer := iterator.NewMultiCloser()

		closer.Add(res.Iter)""",
    ),
    SourcePatch(
        path=f"{HANDLER_DIR}/msg_update.go",
        old="""		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		if err != nil {""",
        new="""		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		// Shopwatch: release this statement's connection now; deferred to the end of the
		// command, 100 statements held the whole pool and the 100th waited forever.
		closer.Close()
		lock.Unlock()
		if err != nil {""",
    ),
)

# Part of the binary's version stamp: a new edit must rebuild binaries built before it.
PATCH_LEVEL = "shopwatch.3"
