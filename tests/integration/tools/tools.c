/*
 * The first five minutes: tools/setup.sh against stand-ins for apt-get,
 * dpkg-query, sudo and cmake (the real ones would change the machine; the
 * stand-ins record their arguments and play a held lock or a failing
 * update), and tools/demo.sh for real: espeak-ng speaks, the default engine
 * (PocketSphinx when no Whisper model is installed) hears, the word error
 * rate between the two is under 20%, and nothing is left in the user's
 * database folder or in $TMPDIR.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "hark/wer.h"

/* Stand-ins in harness_path("bin"); apt-get's behaviour is set by files in harness_tmpdir(). */
static void stubs(void)
{
    const char *bin = harness_path("bin");
    ASSERT_EQ(mkdir(bin, 0755), 0);
    /* every package but sox is installed */
    ASSERT_EQ(harness_sh("printf '#!/bin/sh\\ncase \"$*\" in *sox*) exit 1;; esac\\n"
                         "echo \"install ok installed\"\\n' > '%s/dpkg-query'",
                         bin),
              0);
    ASSERT_EQ(harness_sh("printf '#!/bin/sh\\nexec \"$@\"\\n' > '%s/sudo'", bin), 0);
    ASSERT_EQ(harness_sh("printf '#!/bin/sh\\necho cmake \"$@\" >> \"%s/log\"\\n' > '%s/cmake'",
                         harness_tmpdir(), bin),
              0);
    /*
     * apt-get: logs its arguments; "update" exits with the code in update-rc (default
     * 0); "install" first fails with apt's lock message as many times as lock-busy says,
     * then prints what it sets up.
     */
    ASSERT_EQ(
        harness_sh("cat > '%s/apt-get' <<'EOF'\n"
                   "#!/bin/sh\n"
                   "d='%s'\n"
                   "echo \"apt-get $*\" >> \"$d/log\"\n"
                   "case \"$*\" in\n"
                   "*update*) rc=$(cat \"$d/update-rc\" 2>/dev/null || echo 0)\n"
                   "  [ \"$rc\" = 0 ] || echo 'E: Failed to fetch http://deb.debian.org' >&2\n"
                   "  exit $rc;;\n"
                   "*install*) n=$(cat \"$d/lock-busy\" 2>/dev/null || echo 0)\n"
                   "  if [ \"$n\" -gt 0 ]; then echo $((n - 1)) > \"$d/lock-busy\"\n"
                   "    echo 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by "
                   "process 4242 (unattended-upgr)' >&2; exit 100; fi\n"
                   "  echo 'Setting up sox (14.4.2) ...'; exit 0;;\n"
                   "esac\n"
                   "EOF\n"
                   "chmod +x '%s'/*",
                   bin, harness_tmpdir(), bin),
        0);
}

/* Run tools/setup.sh with the stand-ins first in PATH; its output (stdout and stderr). */
static char *setup_sh(int *st)
{
    return harness_sh_output(
        st,
        "cd '%s' && PATH='%s':\"$PATH\" HARK_APT_RETRY_S=0 bash tools/setup.sh "
        "'%s' 2>&1",
        HARK_SOURCE_DIR, harness_path("bin"), harness_path("build"));
}

TEST(setup_waits_for_the_apt_lock_and_shows_what_it_installs)
{
    char *out, *log;
    int st;
    stubs();
    ASSERT_OK(harness_write_file(harness_path("lock-busy"), "2\n", 2));
    out = setup_sh(&st);
    ASSERT_MSG(st == 0, "setup.sh failed while another package manager held the lock:\n%s", out);
    ASSERT_CONTAINS(out, "sox");            /* what it installs */
    ASSERT_CONTAINS(out, "Setting up sox"); /* apt-get's own output is shown */
    ASSERT_CONTAINS(out, "waiting");        /* it says why it pauses */
    log = harness_read_file(harness_path("log"), NULL);
    ASSERT(log != NULL);
    ASSERT_CONTAINS(log, "-o DPkg::Lock::Timeout="); /* dpkg's own wait */
    ASSERT_CONTAINS(log, "install -y --no-install-recommends sox");
    ASSERT_CONTAINS(log, "cmake -S . -B"); /* and then it builds */
    free(log);
    free(out);
}

TEST(setup_reports_a_failed_apt_get_update)
{
    char *out;
    int st;
    stubs();
    ASSERT_OK(harness_write_file(harness_path("update-rc"), "100\n", 4));
    out = setup_sh(&st);
    ASSERT_MSG(st == 0, "%s", out); /* the install from the lists already there worked */
    ASSERT_CONTAINS(out, "Failed to fetch");
    ASSERT_CONTAINS(out, "'apt-get update' failed");
    free(out);
}

TEST(setup_fails_clearly_when_apt_get_install_fails)
{
    char *out;
    int st;
    stubs();
    /* a lock that never frees within the retries (60 at 0 s here) */
    ASSERT_OK(harness_write_file(harness_path("lock-busy"), "1000\n", 5));
    out = setup_sh(&st);
    ASSERT_NE(st, 0);
    ASSERT_CONTAINS(out, "could not install: sox");
    free(out);
}

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

TEST(demo_speech_is_heard_and_kept_out_of_the_users_database)
{
    char tmp[1024], *out, *spoken, *heard, *nl;
    struct stat sb;
    hark_wer_counts c;
    int st;
    if (!harness_have("espeak-ng"))
        SKIP("espeak-ng not installed");
    if (stat("/usr/share/pocketsphinx/model/en-us", &sb) != 0)
        SKIP("Debian's pocketsphinx-en-us model is not installed");
    snprintf(tmp, sizeof(tmp), "%s", harness_path("tmp"));
    ASSERT_EQ(mkdir(tmp, 0700), 0);
    /* the harness gives this test its own XDG folders and an empty models folder */
    out = harness_sh_output(&st, "cd '%s' && TMPDIR='%s' HARK='%s' tools/demo.sh 2>'%s'",
                            HARK_SOURCE_DIR, tmp, harness_hark_bin(), harness_path("err.txt"));
    ASSERT_MSG(st == 0, "demo.sh failed: %s", harness_read_file(harness_path("err.txt"), NULL));
    spoken = strstr(out, "spoken: ");
    heard = strstr(out, "heard:  ");
    ASSERT_MSG(spoken && heard, "no spoken/heard lines:\n%s", out);
    spoken += 8;
    heard += 8;
    if ((nl = strchr(spoken, '\n')) != NULL)
        *nl = '\0';
    if ((nl = strchr(heard, '\n')) != NULL)
        *nl = '\0';
    ASSERT_OK(hark_wer_score(spoken, heard, &c));
    printf("  demo WER %.1f%% (%zu words): \"%s\"\n", 100 * hark_wer_rate(&c), c.ref_words, heard);
    ASSERT_MSG(hark_wer_rate(&c) < 0.20, "WER %.1f%%: spoken \"%s\", heard \"%s\"",
               100 * hark_wer_rate(&c), spoken, heard);
    /* private: nothing in the user's data or cache folders, nothing left in $TMPDIR */
    ASSERT_MSG(stat(harness_path("xdg-data/hark/hark.db"), &sb) != 0,
               "the demo was stored in the user's database");
    ASSERT_MSG(stat(harness_path("xdg-cache/hark/cache.db"), &sb) != 0,
               "the demo went into the user's cache");
    ASSERT_EQ(dir_entries(tmp), 0);
    free(out);
}
