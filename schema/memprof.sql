-- The memprof trace database, schema version 1.
-- Every time is in nanoseconds since the trace started (meta 'start_time_ns'
-- is that moment as Unix time). Sizes are bytes the program asked for.
-- Documented table by table in schema/README.md.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,  -- format, schema_version, memprof_version, state,
    value TEXT               -- command, start_time_ns, duration_ns, max_depth, ...
);

-- One row per program image: a fork child is a new row, and so is each
-- exec (same pid, new argv).
CREATE TABLE processes (
    id              INTEGER PRIMARY KEY,
    pid             INTEGER NOT NULL,
    ppid            INTEGER,
    parent_id       INTEGER REFERENCES processes(id), -- forked/spawned by, or exec'd from
    origin          TEXT NOT NULL,     -- 'start' (the first), 'fork', 'exec', or 'spawn'
                                       -- (a new program started by a traced process)
    argv            TEXT NOT NULL,     -- JSON array of strings
    start_ns        INTEGER NOT NULL,
    end_ns          INTEGER,
    ended_by        TEXT NOT NULL,     -- 'exit', 'signal', 'exec', 'unknown', or 'running'
                                       -- (in a trace checkpointed while it ran)
    exit_status     INTEGER,           -- exit code when ended_by = 'exit'
    signal          INTEGER,           -- signal number when ended_by = 'signal'
    allocations     INTEGER NOT NULL,  -- calls to allocation functions
    frees           INTEGER NOT NULL,
    allocated_bytes INTEGER NOT NULL,
    peak_bytes      INTEGER NOT NULL,  -- largest total of live requested bytes
    peak_time_ns    INTEGER NOT NULL,
    leaked_bytes    INTEGER NOT NULL,  -- live at the end (0 for an image that exec'd)
    leaked_blocks   INTEGER NOT NULL,
    temporary       INTEGER NOT NULL,
    threads         INTEGER NOT NULL,
    unmatched_frees INTEGER NOT NULL,  -- frees of blocks never seen allocated
    -- Anonymous private mappings (mmap/mremap/munmap), apart from the heap
    -- figures above; all 0 when they were not recorded (meta mappings_recorded).
    mmap_calls         INTEGER NOT NULL DEFAULT 0, -- mmap, mmap64, mremap calls that mapped
    munmap_calls       INTEGER NOT NULL DEFAULT 0, -- munmap, mremap calls that released some
    mmap_bytes         INTEGER NOT NULL DEFAULT 0, -- sum of mapped sizes
    mmap_peak_bytes    INTEGER NOT NULL DEFAULT 0, -- largest total of mapped bytes
    mmap_peak_time_ns  INTEGER NOT NULL DEFAULT 0,
    mmap_leaked_bytes  INTEGER NOT NULL DEFAULT 0, -- still mapped at the end (0 after exec)
    mmap_leaked_blocks INTEGER NOT NULL DEFAULT 0,
    rss_peak_bytes     INTEGER,  -- peak resident set (kernel high-water mark, or the
    rss_peak_time_ns   INTEGER,  -- largest sample); when the largest sample was taken; NULL: no sample
    run                INTEGER NOT NULL DEFAULT 1, -- runs.run: which run of the program
    -- The leak scan at exit (which leaked blocks are still reachable): 'done',
    -- 'failed' (asked for, never finished), or NULL (not made: killed, exec'd,
    -- --no-scan). The figures are NULL unless 'done'; leaked blocks allocated
    -- after the scan began are in neither (unknown).
    leak_scan               TEXT,
    leak_scan_ns            INTEGER,  -- time the process spent on it (waiting and marking)
    unreachable_bytes       INTEGER,  -- leaked heap blocks no pointer reaches (definitely lost)
    unreachable_blocks      INTEGER,
    reachable_bytes         INTEGER,  -- leaked heap blocks still reachable
    reachable_blocks        INTEGER,
    mmap_unreachable_bytes  INTEGER,  -- leaked mappings no pointer reaches
    mmap_unreachable_blocks INTEGER
);

-- One row per run of the program: `memprof run --repeat N` records N runs
-- (each a fresh start of the same command) into one trace; otherwise there
-- is one, run 1. Its processes are those with processes.run = run.
CREATE TABLE runs (
    run         INTEGER PRIMARY KEY,  -- 1, 2, ... in the order they ran
    start_ns    INTEGER NOT NULL,     -- its first process's start
    end_ns      INTEGER NOT NULL,     -- its last process's end
    ended_by    TEXT NOT NULL,        -- how the program memprof started ended: 'exit',
                                      -- 'signal', 'unknown', or 'running' (checkpointed)
    exit_status INTEGER,              -- when ended_by = 'exit'
    signal      INTEGER               -- when ended_by = 'signal'
);

CREATE TABLE threads (
    id              INTEGER PRIMARY KEY,
    process_id      INTEGER NOT NULL REFERENCES processes(id),
    tid             INTEGER NOT NULL,
    allocations     INTEGER NOT NULL,
    frees           INTEGER NOT NULL,
    allocated_bytes INTEGER NOT NULL,
    leaked_bytes    INTEGER NOT NULL,
    leaked_blocks   INTEGER NOT NULL,
    temporary       INTEGER NOT NULL
);

CREATE TABLE modules (
    id       INTEGER PRIMARY KEY,
    path     TEXT NOT NULL,
    build_id TEXT              -- hex, NULL when the object has none
);

-- One row per distinct code address (module, offset); symbols resolved
-- when the trace was finished, so the file alone answers every query.
CREATE TABLE frames (
    id        INTEGER PRIMARY KEY,
    module_id INTEGER REFERENCES modules(id),  -- NULL: address in no known module
    address   INTEGER NOT NULL,  -- offset in the module's ELF image (absolute when no module)
    function  TEXT,              -- NULL when unknown
    file      TEXT,              -- source file, NULL when no debug info
    line      INTEGER,
    inlined   TEXT               -- inlined callees at this address, innermost first:
                                 -- JSON array of {"function","file","line"}, or NULL
);

-- Call stacks as a trie: a stack's id names its innermost frame; parent_id
-- leads to its caller, up to the root (id 0, no frame). Frame id 0 in a
-- stack means the stack was cut at the depth limit there.
CREATE TABLE stacks (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL,
    frame_id  INTEGER NOT NULL
);

-- Figures per allocation site (a full stack) and process.
CREATE TABLE sites (
    process_id    INTEGER NOT NULL REFERENCES processes(id),
    stack_id      INTEGER NOT NULL REFERENCES stacks(id),
    allocations   INTEGER NOT NULL,
    frees         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    peak_bytes    INTEGER NOT NULL,  -- live at the process's peak
    peak_blocks   INTEGER NOT NULL,
    leaked_bytes  INTEGER NOT NULL,
    leaked_blocks INTEGER NOT NULL,
    temporary     INTEGER NOT NULL,
    -- Of the leaked blocks, what the leak scan found (0 when the process was
    -- not scanned: processes.leak_scan).
    unreachable_bytes  INTEGER NOT NULL DEFAULT 0,
    unreachable_blocks INTEGER NOT NULL DEFAULT 0,
    reachable_bytes    INTEGER NOT NULL DEFAULT 0,
    reachable_blocks   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (process_id, stack_id)
) WITHOUT ROWID;

-- Figures per mapping site (anonymous mappings; the same columns as sites:
-- allocations = mapping calls, frees = releases, peak = at the mapping peak,
-- leaked = still mapped at the end, temporary always 0).
CREATE TABLE mapping_sites (
    process_id    INTEGER NOT NULL REFERENCES processes(id),
    stack_id      INTEGER NOT NULL REFERENCES stacks(id),
    allocations   INTEGER NOT NULL,
    frees         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    peak_bytes    INTEGER NOT NULL,
    peak_blocks   INTEGER NOT NULL,
    leaked_bytes  INTEGER NOT NULL,
    leaked_blocks INTEGER NOT NULL,
    temporary     INTEGER NOT NULL,
    PRIMARY KEY (process_id, stack_id)
) WITHOUT ROWID;

-- The leaked blocks (heap blocks and mappings) the leak scan found
-- unreachable: allocations.id, one row each.
CREATE TABLE unreachable (
    process_id    INTEGER NOT NULL REFERENCES processes(id),
    allocation_id INTEGER NOT NULL,
    PRIMARY KEY (process_id, allocation_id)
) WITHOUT ROWID;

-- Resident set size over time: every 10 ms of a process (MEMPROF_RSS_MS)
-- and at its end, with the heap and mapping figures at that moment.
CREATE TABLE rss_samples (
    process_id   INTEGER NOT NULL REFERENCES processes(id),
    time_ns      INTEGER NOT NULL,
    rss_bytes    INTEGER NOT NULL,  -- resident set
    anon_bytes   INTEGER NOT NULL,  -- resident, not file-backed nor shared
    heap_bytes   INTEGER NOT NULL,  -- live heap, requested
    usable_bytes INTEGER NOT NULL,  -- live heap, usable
    mapped_bytes INTEGER NOT NULL   -- live anonymous mappings
);

-- What recording cost, measured: one row per thread (tid) and one for the
-- whole process (tid NULL). NULL: not measured (a process killed or
-- exec'd sends no CPU time nor profiler memory; no event was sampled).
CREATE TABLE overhead (
    process_id     INTEGER NOT NULL REFERENCES processes(id),
    tid            INTEGER,           -- NULL: the process
    events         INTEGER NOT NULL,  -- allocation, free and realloc events recorded
    sampled_events INTEGER NOT NULL,  -- events whose recording was timed (about 1 in 32)
    sampled_waits  INTEGER NOT NULL,  -- of those, timed over 2^18 TSC cycles (~100 us): the thread
                                      -- was descheduled or waited for the collector; left out
    hook_ns        INTEGER,           -- recording time in the hooks: mean of the sample x events
    cpu_ns         INTEGER,           -- the process's CPU time, user and system, all threads
    profiler_bytes INTEGER            -- the profiler's own memory in the process, at its largest
);

-- Blocks released by a function that does not match the one that
-- allocated them (free of a new block, delete of a new[] or malloc block,
-- delete[] of a new or malloc block), per process, allocating stack,
-- deallocating stack and the two kinds.
CREATE TABLE mismatches (
    process_id     INTEGER NOT NULL REFERENCES processes(id),
    alloc_stack_id INTEGER NOT NULL,  -- stacks.id of the allocation
    free_stack_id  INTEGER,           -- stacks.id of the deallocation; NULL when it recorded
                                      -- no stack (free, realloc: only delete and delete[] do)
    alloc_kind     TEXT NOT NULL,     -- as allocations.kind: 'new', 'new[]', 'malloc', ...
    free_kind      TEXT NOT NULL,     -- 'free' (free, realloc, dallocx, sdallocx), 'delete', 'delete[]'
    count          INTEGER NOT NULL,  -- blocks so released
    bytes          INTEGER NOT NULL   -- their requested bytes
);

-- Live heap over time, at most one sample per 10 ms of a process and at its peak.
CREATE TABLE heap_samples (
    process_id   INTEGER NOT NULL REFERENCES processes(id),
    time_ns      INTEGER NOT NULL,
    heap_bytes   INTEGER NOT NULL,  -- requested
    usable_bytes INTEGER NOT NULL   -- as malloc_usable_size reports
);

-- Every allocation, in compressed columnar chunks (lib/store.c). Read them
-- as rows through the virtual table `allocations` (memprof sql, or the
-- SQLite extension memprof_sqlite.so), or `memprof sql --materialize`.
CREATE TABLE alloc_chunks (
    id         INTEGER PRIMARY KEY,
    process_id INTEGER NOT NULL REFERENCES processes(id),
    count      INTEGER NOT NULL,
    data       BLOB NOT NULL
);

-- What a program told memprof through memprof.h (schema/README.md).
-- Pools (memprof_pool_create) and the figures of their blocks, which are
-- not in the heap figures above (a pool's arena is itself a heap block).
CREATE TABLE pools (
    process_id      INTEGER NOT NULL REFERENCES processes(id),
    pool_id         INTEGER NOT NULL,  -- allocations.pool_id
    name            TEXT,              -- NULL when unknown
    allocations     INTEGER NOT NULL,
    frees           INTEGER NOT NULL,
    bytes           INTEGER NOT NULL,
    peak_bytes      INTEGER NOT NULL,  -- largest total of the pool's live bytes
    leaked_bytes    INTEGER NOT NULL,  -- reported allocated, never reported freed
    leaked_blocks   INTEGER NOT NULL,
    unmatched_frees INTEGER NOT NULL,  -- frees of blocks never reported allocated
    PRIMARY KEY (process_id, pool_id)
) WITHOUT ROWID;

-- Figures per pool and allocation site (the stack of memprof_alloc's caller).
CREATE TABLE pool_sites (
    process_id    INTEGER NOT NULL REFERENCES processes(id),
    pool_id       INTEGER NOT NULL,
    stack_id      INTEGER NOT NULL REFERENCES stacks(id),
    allocations   INTEGER NOT NULL,
    frees         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    leaked_bytes  INTEGER NOT NULL,
    leaked_blocks INTEGER NOT NULL,
    PRIMARY KEY (process_id, pool_id, stack_id)
) WITHOUT ROWID;

-- Named phases (memprof_phase, memprof run --phase-after): each lasts until
-- the next one of its process or the process's end. Its allocations are
-- those of the process with first_alloc_id <= allocations.id < end_alloc_id.
CREATE TABLE phases (
    process_id     INTEGER NOT NULL REFERENCES processes(id),
    name           TEXT NOT NULL,
    source         TEXT NOT NULL,     -- 'program' (memprof_phase) or 'run' (--phase-after)
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    first_alloc_id INTEGER NOT NULL,
    end_alloc_id   INTEGER NOT NULL,
    allocations    INTEGER NOT NULL,  -- heap allocations made during the phase
    bytes          INTEGER NOT NULL
);

-- Spans during which allocations were not recorded (memprof_pause, the
-- toggle signal, memprof run --start-paused); frees still were.
CREATE TABLE pauses (
    process_id       INTEGER NOT NULL REFERENCES processes(id),
    start_ns         INTEGER NOT NULL,
    end_ns           INTEGER NOT NULL,  -- the process's end when never resumed
    unrecorded_frees INTEGER NOT NULL   -- frees of blocks allocated while paused, seen
                                        -- from this pause on (until the next one)
);
