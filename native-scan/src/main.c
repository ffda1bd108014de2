/* hpcm-scan: command line. Usage errors: one line on stderr, exit 2. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scan.h"

#define VERSION "hpcm-scan 1 (record format 1)"

static const char USAGE[] =
    "usage: hpcm-scan [OPTIONS] ROOT\n"
    "Walks ROOT in parallel and writes binary records (see native-scan/README.md) to stdout.\n"
    "  --list                 every entry (the default)\n"
    "  --since NS             entries whose ctime or mtime is >= NS (ns since the epoch)\n"
    "  --compare DSTROOT      entries missing on or differing from DSTROOT, and names only there\n"
    "  --mtime-tolerance NS   mtime difference still equal in compare mode (default 2000)\n"
    "  --dir-times            compare directory mtimes too\n"
    "  --owner                compare uid/gid too\n"
    "  --dir-records          list mode: a DIR record after the entries of each directory\n"
    "  --threads N            worker threads (default: online CPUs)\n"
    "  --cross-fs             descend into other file systems (default: stay on ROOT's)\n"
    "  --exclude GLOB         skip matching entries and never descend into them (repeatable)\n"
    "  --part-depth D         checkpoint unit depth (default 2)\n"
    "  --skip-parts FILE      NUL-terminated part keys done in an earlier run\n"
    "  --progress-ms MS       progress record interval, 0 = none (default 500)\n"
    "  --queue-mem N          queued directories kept in memory before spilling (default 262144)\n"
    "  --block-size BYTES     stdout block per thread (default 262144)\n"
    "  --help, --version\n";

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "hpcm-scan: %s%s%s (see --help)\n", what, arg ? ": " : "", arg ? arg : "");
    exit(EXIT_USAGE);
}

static int64_t parse_int(const char *s, const char *opt, int64_t min, int64_t max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        char what[128];
        snprintf(what, sizeof what, "%s needs an integer in [%" PRId64 ", %" PRId64 "]", opt, min, max);
        usage_error(what, s);
    }
    return v;
}

enum {
    O_LIST = 256, O_SINCE, O_COMPARE, O_TOL, O_DIRTIMES, O_OWNER, O_THREADS, O_CROSS, O_EXCLUDE,
    O_PARTDEPTH, O_SKIP, O_PROGRESS, O_QUEUE, O_BLOCK, O_HELP, O_VERSION, O_DIRREC
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "list", no_argument, 0, O_LIST },
        { "since", required_argument, 0, O_SINCE },
        { "compare", required_argument, 0, O_COMPARE },
        { "mtime-tolerance", required_argument, 0, O_TOL },
        { "dir-times", no_argument, 0, O_DIRTIMES },
        { "owner", no_argument, 0, O_OWNER },
        { "dir-records", no_argument, 0, O_DIRREC },
        { "threads", required_argument, 0, O_THREADS },
        { "cross-fs", no_argument, 0, O_CROSS },
        { "exclude", required_argument, 0, O_EXCLUDE },
        { "part-depth", required_argument, 0, O_PARTDEPTH },
        { "skip-parts", required_argument, 0, O_SKIP },
        { "progress-ms", required_argument, 0, O_PROGRESS },
        { "queue-mem", required_argument, 0, O_QUEUE },
        { "block-size", required_argument, 0, O_BLOCK },
        { "help", no_argument, 0, O_HELP },
        { "version", no_argument, 0, O_VERSION },
        { 0, 0, 0, 0 },
    };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct scan_config cfg = {
        .mode = MODE_LIST,
        .mtime_tol_ns = 2000,
        .threads = cpus > 0 ? (int)cpus : 1,
        .one_fs = 1,
        .part_depth = 2,
        .progress_ms = 500,
        .queue_mem_items = 262144,
    };
    size_t block = 256 * 1024;
    int modes = 0;
    cfg.excludes = calloc((size_t)argc, sizeof *cfg.excludes);
    if (!cfg.excludes) return EXIT_FAILED;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_LIST: cfg.mode = MODE_LIST; modes++; break;
        case O_SINCE: cfg.mode = MODE_SINCE; modes++; cfg.since_ns = parse_int(optarg, "--since", INT64_MIN, INT64_MAX); break;
        case O_COMPARE: cfg.mode = MODE_COMPARE; modes++; cfg.dst_root = optarg; break;
        case O_TOL: cfg.mtime_tol_ns = parse_int(optarg, "--mtime-tolerance", 0, INT64_MAX); break;
        case O_DIRTIMES: cfg.dir_times = 1; break;
        case O_OWNER: cfg.owner = 1; break;
        case O_DIRREC: cfg.dir_records = 1; break;
        case O_THREADS: cfg.threads = (int)parse_int(optarg, "--threads", 1, 1024); break;
        case O_CROSS: cfg.one_fs = 0; break;
        case O_EXCLUDE: cfg.excludes[cfg.n_excludes++] = optarg; break;
        case O_PARTDEPTH: cfg.part_depth = (int)parse_int(optarg, "--part-depth", 0, 64); break;
        case O_SKIP: cfg.skip_parts_file = optarg; break;
        case O_PROGRESS: cfg.progress_ms = (int)parse_int(optarg, "--progress-ms", 0, 3600000); break;
        case O_QUEUE: cfg.queue_mem_items = (size_t)parse_int(optarg, "--queue-mem", 1, INT32_MAX); break;
        case O_BLOCK: block = (size_t)parse_int(optarg, "--block-size", 4096, 64 << 20); break;
        case O_HELP: fputs(USAGE, stdout); return 0;
        case O_VERSION: puts(VERSION); return 0;
        case ':': usage_error("option needs a value", argv[optind - 1]); break;
        default: usage_error("unknown option", argv[optind - 1]); break;
        }
    }
    if (modes > 1) usage_error("--list, --since and --compare exclude each other", NULL);
    if (cfg.dir_records && cfg.mode != MODE_LIST) usage_error("--dir-records goes with --list only", NULL);
    if (optind != argc - 1) usage_error(optind == argc ? "missing ROOT" : "one ROOT only", NULL);
    cfg.src_root = argv[optind];
    if (isatty(STDOUT_FILENO)) usage_error("stdout is a terminal; the output is binary", NULL);
    out_init(block);
    return walk_run(&cfg);
}
