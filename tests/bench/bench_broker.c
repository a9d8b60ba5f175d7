/* SPDX-License-Identifier: Apache-2.0 */
/* Hosts librdkafka's mock cluster for a benchmark run, so the generator,
 * the worker and the baseline consumers all talk to one broker over TCP on
 * loopback. Prints the bootstrap address and stays up until SIGTERM/SIGINT
 * or until stdin (a pipe) is closed. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 16

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "Usage: bench_broker -t TOPIC:PARTITIONS [-t ...] [-f FILE]\n"
            "Prints the bootstrap address (also to FILE), then runs until "
            "SIGTERM or until a piped stdin closes.\n");
}

/* Stdin as a pipe or FIFO: its end is the stop signal. */
static int stdin_is_pipe(void)
{
    struct stat st;

    return fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode);
}

int main(int argc, char **argv)
{
    const char *names[MAX_TOPICS];
    int parts[MAX_TOPICS];
    int topic_cnt = 0, watch_stdin, status = 1;
    const char *file = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk = NULL;
    struct sigaction sa;
    char errstr[512];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc && topic_cnt < MAX_TOPICS) {
            char *colon = strrchr(argv[++i], ':');

            if (!colon || atoi(colon + 1) < 1) {
                usage();
                return 2;
            }
            *colon = '\0';
            names[topic_cnt] = argv[i];
            parts[topic_cnt] = atoi(colon + 1);
            topic_cnt++;
        } else if (!strcmp(argv[i], "-f") && i + 1 < argc) {
            file = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    if (!topic_cnt) {
        usage();
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    conf = rd_kafka_conf_new();
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "bench_broker: %s\n", errstr);
        return 1;
    }
    mcluster = rd_kafka_mock_cluster_new(rk, 1);
    if (!mcluster) {
        fprintf(stderr, "bench_broker: cannot start the mock cluster\n");
        goto out;
    }
    for (int i = 0; i < topic_cnt; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, names[i], parts[i], 1);

        if (err) {
            fprintf(stderr, "bench_broker: create %s: %s\n", names[i],
                    rd_kafka_err2str(err));
            goto out;
        }
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
    fflush(stdout);
    if (file) {
        FILE *f = fopen(file, "w");

        if (!f ||
            fprintf(f, "%s\n", rd_kafka_mock_cluster_bootstraps(mcluster)) <
                0 ||
            fclose(f)) {
            fprintf(stderr, "bench_broker: cannot write %s\n", file);
            goto out;
        }
    }
    watch_stdin = stdin_is_pipe();
    while (!stop_requested) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};

        if (!watch_stdin) {
            poll(NULL, 0, 200); /* a sleep that a signal cuts short */
            continue;
        }
        if (poll(&pfd, 1, 500) > 0) {
            char buf[256];

            if (read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
                break;
        }
    }
    status = 0;
out:
    if (mcluster)
        rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return status;
}
