/*
 * lints_driver.c
 *    Test driver for src/lints.c. Reads one command per line from stdin and
 *    prints one result line (numbers as %.17g). Arms are given as triples
 *    "mu sd enabled" (enabled 0 or 1), or as pairs "mu sd" for the *_all
 *    variants, which pass enabled = NULL:
 *
 *      prob k a mu1 sd1 en1 ... muk sdk enk
 *          P(arm a is best): "ok p" or "error <status>"
 *      prob_all k a mu1 sd1 ... muk sdk          (enabled = NULL)
 *      each k mu1 sd1 en1 ...
 *          every arm: "ok p1 ... pk" with "-" for disabled arms, or
 *          "error <status> <arm>" for the first arm that fails
 *      time reps k a mu1 sd1 en1 ...
 *          mean wall time per call in microseconds (-1 if a call fails)
 *
 *    Unknown commands and malformed lines print "bad <command>".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lints.h"

#define MAX_ARGS 4096
#define MAX_ARMS 1000

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* unpacks k arms of per_arm numbers (3: with the enabled flag, 2: without) */
static void
unpack(int k, int per_arm, const double *args, double *mu, double *sd, bool *enabled)
{
	int			j;

	for (j = 0; j < k; j++)
	{
		mu[j] = args[per_arm * j];
		sd[j] = args[per_arm * j + 1];
		enabled[j] = (per_arm == 3) ? args[per_arm * j + 2] != 0.0 : true;
	}
}

int
main(void)
{
	static char line[1 << 20];
	static double args[MAX_ARGS];
	static double mu[MAX_ARMS],
				sd[MAX_ARMS];
	static bool enabled[MAX_ARMS];

	while (fgets(line, sizeof(line), stdin))
	{
		char	   *save = NULL;
		char	   *cmd = strtok_r(line, " \t\r\n", &save);
		char	   *tok;
		int			n = 0;

		if (cmd == NULL)
			continue;
		while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL && n < MAX_ARGS)
			args[n++] = strtod(tok, NULL);

		if ((strcmp(cmd, "prob") == 0 || strcmp(cmd, "prob_all") == 0) && n >= 2)
		{
			int			per_arm = (strcmp(cmd, "prob") == 0) ? 3 : 2;
			int			k = (int) args[0],
						a = (int) args[1],
						status;
			double		p = -1.0;

			if (k < 0 || k > MAX_ARMS || n != 2 + per_arm * k)
			{
				printf("bad %s\n", cmd);
				fflush(stdout);
				continue;
			}
			unpack(k, per_arm, args + 2, mu, sd, enabled);
			status = lints_prob_best(k, mu, sd, per_arm == 3 ? enabled : NULL, a, &p);
			if (status != 0)
				printf("error %d\n", status);
			else
				printf("ok %.17g\n", p);
		}
		else if (strcmp(cmd, "each") == 0 && n >= 1)
		{
			int			k = (int) args[0],
						j,
						status = 0;
			double		p[MAX_ARMS];

			if (k < 1 || k > MAX_ARMS || n != 1 + 3 * k)
			{
				printf("bad %s\n", cmd);
				fflush(stdout);
				continue;
			}
			unpack(k, 3, args + 1, mu, sd, enabled);
			for (j = 0; j < k && status == 0; j++)
				if (enabled[j])
					status = lints_prob_best(k, mu, sd, enabled, j, &p[j]);
			if (status != 0)
				printf("error %d %d\n", status, j - 1);
			else
			{
				printf("ok");
				for (j = 0; j < k; j++)
				{
					if (enabled[j])
						printf(" %.17g", p[j]);
					else
						printf(" -");
				}
				printf("\n");
			}
		}
		else if (strcmp(cmd, "time") == 0 && n >= 3)
		{
			int			reps = (int) args[0],
						k = (int) args[1],
						a = (int) args[2],
						r,
						status = 0;
			double		p,
						start;

			if (reps < 1 || k < 1 || k > MAX_ARMS || n != 3 + 3 * k)
			{
				printf("bad %s\n", cmd);
				fflush(stdout);
				continue;
			}
			unpack(k, 3, args + 3, mu, sd, enabled);
			start = now_seconds();
			for (r = 0; r < reps; r++)
				status |= lints_prob_best(k, mu, sd, enabled, a, &p);
			printf("%.6g\n", status == 0 ? (now_seconds() - start) / reps * 1e6 : -1.0);
		}
		else
			printf("bad %s\n", cmd);
		fflush(stdout);
	}
	return 0;
}
