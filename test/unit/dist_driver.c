/*
 * dist_driver.c
 *    Test driver for src/distributions.c and src/thompson.c. Reads one command
 *    per line from stdin and prints one result line (numbers as %.17g):
 *
 *      lbeta a b                      beta_pdf x a b
 *      beta_cdf x a b                 beta_quantile p a b
 *      beta_logit_eval u a b   (prints cdf density)
 *      t_pdf t nu     t_cdf t nu      t_quantile p nu
 *      normal_pdf z   normal_cdf z    normal_quantile p
 *      gamma_p a x    gamma_q a x     chi2_sf x df
 *      ts_beta k a1 b1 ... ak bk      ts_t k loc1 scale1 nu1 ...
 *          (print "ok p1 ... pk" or "error <status>")
 *      time_ts_beta reps k a1 b1 ...  time_ts_t reps k loc1 scale1 nu1 ...
 *          (print the mean wall time per call in microseconds)
 *
 *    Unknown commands and malformed lines print "bad <line>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distributions.h"
#include "thompson.h"

#define MAX_ARGS 4096

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Runs one Thompson command on the arm parameters args[0..]; per_arm is 2
 * (Beta) or 3 (t). Prints probabilities, or the time per call if reps > 0. */
static void
run_thompson(int per_arm, int k, const double *args, int reps)
{
	double	   *p1 = malloc(sizeof(double) * k),
			   *p2 = malloc(sizeof(double) * k),
			   *p3 = malloc(sizeof(double) * k),
			   *out = malloc(sizeof(double) * k);
	int			j,
				status = 0,
				r;

	for (j = 0; j < k; j++)
	{
		p1[j] = args[per_arm * j];
		p2[j] = args[per_arm * j + 1];
		p3[j] = (per_arm == 3) ? args[per_arm * j + 2] : 0.0;
	}
	if (reps > 0)
	{
		double		start = now_seconds();

		for (r = 0; r < reps; r++)
			status |= (per_arm == 2) ? thompson_beta_prob_best(k, p1, p2, out)
				: thompson_t_prob_best(k, p1, p2, p3, out);
		printf("%.6g\n", status == 0 ? (now_seconds() - start) / reps * 1e6 : -1.0);
	}
	else
	{
		status = (per_arm == 2) ? thompson_beta_prob_best(k, p1, p2, out)
			: thompson_t_prob_best(k, p1, p2, p3, out);
		if (status != 0)
			printf("error %d\n", status);
		else
		{
			printf("ok");
			for (j = 0; j < k; j++)
				printf(" %.17g", out[j]);
			printf("\n");
		}
	}
	free(p1);
	free(p2);
	free(p3);
	free(out);
}

int
main(void)
{
	static char line[1 << 20];
	static double args[MAX_ARGS];

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

		if (strcmp(cmd, "lbeta") == 0 && n == 2)
			printf("%.17g\n", dist_lbeta(args[0], args[1]));
		else if (strcmp(cmd, "beta_pdf") == 0 && n == 3)
			printf("%.17g\n", dist_beta_pdf(args[0], args[1], args[2]));
		else if (strcmp(cmd, "beta_cdf") == 0 && n == 3)
			printf("%.17g\n", dist_beta_cdf(args[0], args[1], args[2]));
		else if (strcmp(cmd, "beta_quantile") == 0 && n == 3)
			printf("%.17g\n", dist_beta_quantile(args[0], args[1], args[2]));
		else if (strcmp(cmd, "beta_logit_eval") == 0 && n == 3)
		{
			double		cdf,
						density;

			dist_beta_logit_eval(args[0], args[1], args[2], &cdf, &density);
			printf("%.17g %.17g\n", cdf, density);
		}
		else if (strcmp(cmd, "t_pdf") == 0 && n == 2)
			printf("%.17g\n", dist_t_pdf(args[0], args[1]));
		else if (strcmp(cmd, "t_cdf") == 0 && n == 2)
			printf("%.17g\n", dist_t_cdf(args[0], args[1]));
		else if (strcmp(cmd, "t_quantile") == 0 && n == 2)
			printf("%.17g\n", dist_t_quantile(args[0], args[1]));
		else if (strcmp(cmd, "normal_pdf") == 0 && n == 1)
			printf("%.17g\n", dist_normal_pdf(args[0]));
		else if (strcmp(cmd, "normal_cdf") == 0 && n == 1)
			printf("%.17g\n", dist_normal_cdf(args[0]));
		else if (strcmp(cmd, "normal_quantile") == 0 && n == 1)
			printf("%.17g\n", dist_normal_quantile(args[0]));
		else if (strcmp(cmd, "gamma_p") == 0 && n == 2)
			printf("%.17g\n", dist_gamma_p(args[0], args[1]));
		else if (strcmp(cmd, "gamma_q") == 0 && n == 2)
			printf("%.17g\n", dist_gamma_q(args[0], args[1]));
		else if (strcmp(cmd, "chi2_sf") == 0 && n == 2)
			printf("%.17g\n", dist_chi2_sf(args[0], args[1]));
		else if ((strcmp(cmd, "ts_beta") == 0 || strcmp(cmd, "ts_t") == 0) && n >= 1)
		{
			int			per_arm = (cmd[3] == 'b') ? 2 : 3;
			int			k = (int) args[0];

			if (k >= 1 && n == 1 + per_arm * k)
				run_thompson(per_arm, k, args + 1, 0);
			else if (n == 1 + per_arm * (k > 0 ? k : 0))
				printf("error %d\n", per_arm == 2 ? thompson_beta_prob_best(k, args, args, args)
					   : thompson_t_prob_best(k, args, args, args, args));
			else
				printf("bad %s\n", cmd);
		}
		else if ((strcmp(cmd, "time_ts_beta") == 0 || strcmp(cmd, "time_ts_t") == 0) && n >= 2)
		{
			int			per_arm = (cmd[8] == 'b') ? 2 : 3;
			int			reps = (int) args[0];
			int			k = (int) args[1];

			if (k >= 1 && reps >= 1 && n == 2 + per_arm * k)
				run_thompson(per_arm, k, args + 2, reps);
			else
				printf("bad %s\n", cmd);
		}
		else
			printf("bad %s\n", cmd);
		fflush(stdout);
	}
	return 0;
}
