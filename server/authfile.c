/*
 * authfile: the files behind -Y and -S.  -Y FILE is memcached's ASCII
 * authentication file; -S takes its users from the file the environment
 * variable MEMCACHED_SASL_PWDB names, as memcached built with
 * --enable-sasl-pwdb does (Debian's memcached reads Cyrus SASL's sasldb
 * instead; mcd speaks only PLAIN, see protocol/sasl.c).  Both files have
 * memcached's `user:password` lines; one that does not parse stops mcd with
 * memcached's message and the line at fault.  SIGHUP reads them again
 * (authfile_reload): a file that then does not parse leaves the users
 * already loaded.  Nothing here prints a password.
 */
#include "authfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"

/* The file's bytes, or NULL after memcached's message. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "Could not open authfile [%s] for reading, error %s\n", path,
                strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "Could not stat authfile [%s], error %s\n", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    if (buf == NULL || ferror(f)) {
        fprintf(stderr, "Out of memory reading password file: %s\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static struct auth_table *load(const char *path)
{
    size_t len = 0;
    char *data = slurp(path, &len);
    if (data == NULL)
        return NULL;
    char why[128];
    struct auth_table *t = auth_parse(data, len, why, sizeof(why));
    memset(data, 0, len);
    free(data);
    if (t == NULL)
        fprintf(stderr, "Authfile [%s] has a malformed entry. Should be 'user:password' (%s)\n",
                path, why);
    return t;
}

int authfile_setup(const struct config *cfg, struct proto_settings *s)
{
    if (cfg->auth_file != NULL) {
        s->auth_ascii = load(cfg->auth_file);
        if (s->auth_ascii == NULL)
            return -1;
        s->auth_file = cfg->auth_file;
    }
    if (cfg->sasl) {
        const char *pwdb = getenv("MEMCACHED_SASL_PWDB");
        if (pwdb == NULL || pwdb[0] == '\0') {
            fprintf(stderr, "mcd -S: set MEMCACHED_SASL_PWDB to a file of user:password lines "
                            "(mcd's SASL is PLAIN over that file; it does not read sasldb)\n");
            return -1;
        }
        s->sasl_users = load(pwdb);
        if (s->sasl_users == NULL)
            return -1;
        s->sasl = true;
    }
    return 0;
}

/* Read `path` again into `table`: 0, or -1 (no path, or it did not load). */
static int reload_into(const char *path, const struct auth_table *table)
{
    struct auth_table *t = path != NULL && path[0] != '\0' ? load(path) : NULL;
    if (t == NULL)
        return -1;
    auth_replace((struct auth_table *)table, t);
    return 0;
}

int authfile_reload(const struct config *cfg, struct proto_settings *s)
{
    int rc = 0;
    if (cfg->auth_file != NULL && s->auth_ascii != NULL)
        rc |= reload_into(cfg->auth_file, s->auth_ascii);
    if (cfg->sasl && s->sasl_users != NULL)
        rc |= reload_into(getenv("MEMCACHED_SASL_PWDB"), s->sasl_users);
    return rc;
}

void authfile_teardown(struct proto_settings *s)
{
    auth_free((struct auth_table *)s->auth_ascii);
    auth_free((struct auth_table *)s->sasl_users);
    s->auth_ascii = s->sasl_users = NULL;
}
