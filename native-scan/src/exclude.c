/* Exclusion globs (fnmatch): a pattern without '/' is matched against the entry's name, one with '/'
 * against its path relative to the root (FNM_PATHNAME, so '*' stays within one component). */
#include <fnmatch.h>
#include <string.h>

#include "scan.h"

int is_excluded(const struct scan_config *cfg, const char *name, const char *rel)
{
    for (int i = 0; i < cfg->n_excludes; i++) {
        const char *pat = cfg->excludes[i];
        if (strchr(pat, '/')) {
            if (fnmatch(pat, rel, FNM_PATHNAME) == 0) return 1;
        } else if (fnmatch(pat, name, 0) == 0) {
            return 1;
        }
    }
    return 0;
}
