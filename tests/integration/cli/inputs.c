/*
 * Inputs that are not regular files, with the store and the cache on (the
 * default): FIFOs, process substitution, pipes on standard input, sockets.
 * Each is read once (spooled while it is hashed), so it is transcribed, and
 * recognised when the same bytes come again; every run has a deadline, so a
 * hang fails the test instead of stalling it. One SIGTERM or SIGINT stops a
 * run that waits on a FIFO, with exit 130. A directory gets one message
 * whatever the flags.
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"

#define FLAGS "-e test --no-vad --chunk-max 2 --chunk-min 1 -f tsv"

static void assert_two_chunks(const char *out)
{
    ASSERT_CONTAINS(out, "0\t2000\tf440");
    ASSERT_CONTAINS(out, "2000\t4000\tf440");
}

TEST(fifo_is_transcribed_with_the_store_and_cache_on)
{
    const char *flac = ct_tone("in.flac", 4), *fifo = harness_path("talk.fifo");
    int st, k;
    char *out, *err;
    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    for (k = 0; k < 2; k++) {
        /* the writer runs in the background; `timeout` turns a hang into a failure */
        out = harness_sh_output(
            &st,
            "(timeout 40 sh -c \"cat '%s' > '%s'\" &); timeout 30 %s transcribe " FLAGS
            " '%s' 2>'%s'",
            flac, fifo, harness_hark_bin(), fifo, harness_path("e.txt"));
        err = harness_read_file(harness_path("e.txt"), NULL);
        ASSERT_MSG(st == 0, "run %d: exit %d (124 = hung): %s", k, st, err);
        assert_two_chunks(out);
        if (k == 1) /* the same bytes again: the file hash answers */
            ASSERT_CONTAINS(err, "answered from the cache");
        free(out);
        free(err);
    }
}

TEST(process_substitution_is_transcribed_and_recognised)
{
    const char *flac = ct_tone("in.flac", 4);
    int st, k;
    char *out, *err;
    if (!harness_have("bash"))
        SKIP("no bash");
    for (k = 0; k < 2; k++) {
        out = harness_sh_output(&st,
                                "timeout 30 bash -c \"%s transcribe " FLAGS " <(cat '%s')\" 2>'%s'",
                                harness_hark_bin(), flac, harness_path("e.txt"));
        err = harness_read_file(harness_path("e.txt"), NULL);
        ASSERT_MSG(st == 0, "run %d: exit %d: %s", k, st, err);
        assert_two_chunks(out);
        if (k == 1)
            ASSERT_CONTAINS(err, "answered from the cache");
        free(out);
        free(err);
    }
}

TEST(repeated_standard_input_is_one_recording)
{
    const char *flac = ct_tone("in.flac", 4);
    int st, k;
    char *out, *err;
    for (k = 0; k < 2; k++) {
        out = harness_sh_output(&st, "cat '%s' | timeout 30 %s transcribe " FLAGS " - 2>'%s'", flac,
                                harness_hark_bin(), harness_path("e.txt"));
        err = harness_read_file(harness_path("e.txt"), NULL);
        ASSERT_MSG(st == 0, "run %d: exit %d: %s", k, st, err);
        assert_two_chunks(out);
        ASSERT_CONTAINS(err, "stdin: recording 1");
        if (k == 1)
            ASSERT_CONTAINS(err, "answered from the cache");
        free(out);
        free(err);
    }
    out = ct_run(&st, "list --json");
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(out, "\"id\": 1");
    ASSERT_MSG(!strstr(out, "\"id\": 2"), "a second recording was stored:\n%s", out);
    free(out);
}

/* The bytes of a file written into a socket the child reads as /dev/fd/3 or standard input. */
static void socket_input(int as_stdin)
{
    const char *flac = ct_tone("in.flac", 4), *outp = harness_path("out.tsv");
    const char *argv[] = { "transcribe", "-e",          "test",
                           "--no-vad",   "--chunk-max", "2",
                           "-f",         "tsv",         as_stdin ? "-" : "/dev/fd/3",
                           NULL };
    size_t len = 0;
    char *data = harness_read_file(flac, &len), *out;
    int sv[2], st;
    pid_t pid;

    ASSERT(data != NULL);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ASSERT_EQ(fcntl(sv[0], F_SETFD, FD_CLOEXEC), 0);
    pid = ct_spawn(argv, as_stdin ? sv[1] : -1, outp, as_stdin ? -1 : sv[1]);
    close(sv[1]);
    ASSERT_EQ(write(sv[0], data, len), (ssize_t)len);
    ASSERT_EQ(shutdown(sv[0], SHUT_WR), 0);
    ASSERT_MSG(ct_wait(pid, 30000, &st), "hark did not finish reading a socket");
    close(sv[0]);
    out = harness_read_file(outp, NULL);
    ASSERT_MSG(st == 0, "exit %d", st);
    assert_two_chunks(out);
    free(out);
    free(data);
}

TEST(socket_named_as_dev_fd_is_transcribed)
{
    socket_input(0);
}

TEST(socket_on_standard_input_is_transcribed)
{
    socket_input(1);
}

/* hark waits on `fifo`; one signal must end it at once with 130 and say so. */
static void stops_on_one_signal(const char *fifo, int sig)
{
    const char *argv[] = { "transcribe", "-e", "test", "-q", fifo, NULL };
    pid_t pid = ct_spawn(argv, -1, NULL, -1);
    int st;
    char *err;
    /* signal once hark has the FIFO open and waits on it (an older hark blocked in open()
     * never shows it: then a few seconds are enough for it to be blocked there) */
    if (!ct_wait_fd(pid, fifo, 1, 5000))
        fprintf(stderr, "  note: the FIFO never showed among hark's descriptors\n");
    usleep(200 * 1000);
    ASSERT_EQ(kill(pid, sig), 0);
    ASSERT_MSG(ct_wait(pid, 3000, &st), "one signal %d did not stop hark within 3 s", sig);
    err = ct_err();
    ASSERT_MSG(st == 130, "exit %d, expected 130: %s", st, err);
    ASSERT_CONTAINS(err, "interrupted");
    ASSERT_MSG(!strstr(err, "no such file") && !strstr(err, "not found"),
               "an interruption reported as a missing file: %s", err);
    free(err);
}

TEST(sigterm_stops_a_run_waiting_for_a_fifo_writer)
{
    const char *fifo = harness_path("nobody.fifo");
    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    stops_on_one_signal(fifo, SIGTERM);
}

TEST(sigint_stops_a_run_on_a_stalled_fifo)
{
    const char *flac = ct_tone("in.flac", 4), *fifo = harness_path("stalled.fifo");
    size_t len = 0;
    char *data = harness_read_file(flac, &len);
    int w;
    ASSERT(data != NULL);
    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    /* O_RDWR never blocks on Linux: the writer is there, sends half and then nothing */
    w = open(fifo, O_RDWR | O_CLOEXEC);
    ASSERT(w >= 0);
    ASSERT_EQ(write(w, data, len / 2), (ssize_t)(len / 2));
    stops_on_one_signal(fifo, SIGINT);
    close(w);
    free(data);
}

TEST(sigterm_stops_a_run_on_a_stalled_pipe)
{
    const char *flac = ct_tone("in.flac", 4);
    const char *argv[] = { "transcribe", "-e", "test", "-q", "-", NULL };
    size_t len = 0;
    char *data = harness_read_file(flac, &len), *err, link[64];
    struct stat sb;
    int p[2], st;
    pid_t pid;
    /* stdin: a pipe whose writer (this test) sends part of the file, then nothing */
    ASSERT(data != NULL);
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(fcntl(p[1], F_SETFD, FD_CLOEXEC), 0);
    ASSERT_EQ(write(p[1], data, len / 2), (ssize_t)(len / 2));
    ASSERT_EQ(fstat(p[0], &sb), 0);
    snprintf(link, sizeof(link), "pipe:[%llu]", (unsigned long long)sb.st_ino);
    pid = ct_spawn(argv, p[0], NULL, -1);
    close(p[0]);
    /* hark reads standard input through a descriptor of its own: then it is waiting */
    if (!ct_wait_fd(pid, link, 2, 5000))
        fprintf(stderr, "  note: hark never took its own descriptor of the pipe\n");
    usleep(200 * 1000);
    ASSERT_EQ(kill(pid, SIGTERM), 0);
    ASSERT_MSG(ct_wait(pid, 3000, &st), "one SIGTERM did not stop hark within 3 s");
    close(p[1]);
    err = ct_err();
    ASSERT_MSG(st == 130, "exit %d, expected 130: %s", st, err);
    ASSERT_CONTAINS(err, "interrupted");
    free(err);
    free(data);
}

TEST(a_directory_gets_one_message_whatever_the_flags)
{
    const char *dir = harness_path("recordings");
    char *out, *err1, *err2;
    int st;
    ASSERT_EQ(mkdir(dir, 0700), 0);
    out = ct_run(&st, "transcribe -e test -q '%s'", dir);
    err1 = ct_err();
    ASSERT_EQ(st, 3);
    free(out);
    out = ct_run(&st, "transcribe -e test -q --no-store --no-cache '%s'", dir);
    err2 = ct_err();
    ASSERT_EQ(st, 3);
    free(out);
    ASSERT_CONTAINS(err1, "recordings: is a directory");
    ASSERT_STREQ(err1, err2);
    free(err1);
    free(err2);
}
