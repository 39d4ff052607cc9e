/*
 * lints.c
 *    Linear Thompson sampling propensities: P(arm a has the largest of
 *    independent Normal(mu_j, sd_j^2) draws among the enabled arms), by
 *    adaptive Gauss-Kronrod quadrature of
 *        P_a = integral phi(z) prod_{j != a} Phi((mu_a - mu_j + sd_a z) / sd_j) dz.
 *    See lints.h for the contract and the accuracy.
 *
 * Design
 *  - Arm j's factor is Phi(x_j), x_j = c_j + s_j z with c_j = (mu_a - mu_j) / sd_j
 *    and s_j = sd_a / sd_j > 0, so it increases with z. It is exactly 1 in
 *    double where x_j >= X_ONE (1 - Phi < 1e-17) and below 1e-17 where
 *    x_j < X_ZERO. Point masses (sd_j = 0, or s_j > 1e15) are steps: a beats
 *    mu_j iff z > (mu_j - mu_a) / sd_a, a lower limit of integration.
 *  - g(z) = phi(z) prod Phi(x_j) is log-concave (a product of log-concave
 *    functions of affine maps of z), hence unimodal, and as h'(z) > 0 for
 *    z < 0 (h = log g), its maximum lies at z >= 0.
 *  - Fast path (absolute error target FAST_ABS_TOL + FAST_REL_TOL P_a):
 *      domain [lo, Z_MAX]: lo is the largest of -Z_MAX, the point-mass
 *      limits, the z where some factor falls to 1e-17, and the z below
 *      which the bound Phi(x) <= exp(-x^2/2)/2 puts the whole product under
 *      1e-17 (so at most ~1e-17 of P_a is cut off);
 *      breakpoints at the maximum of g (a few Newton steps on h') and,
 *      for arms steeper than NARROW, where x_j = 0 and x_j = X_ONE (a narrow
 *      arm goes from 1e-17 to 1 within 17 / s_j, and as lo is above its
 *      1e-17 point, all of that lies just above lo);
 *      rules: QUADPACK QNG's nested sequence G10 < K21 < P43 < P87 on each
 *      panel, globally adaptive: the panel with the largest error estimate
 *      is raised to its next rule (reusing every node) while the estimate is
 *      modest, else bisected;
 *      integrand: only arms with x_j < X_ONE somewhere on a panel are
 *      evaluated, a node's product stops once below NODE_TINY, and Phi comes
 *      from a piecewise polynomial (ndtr_poly, ~1e-16 absolute, twice as
 *      fast as erfc).
 *  - Tail path, when P_a < TAIL_SWITCH (or P(z > lo) already is): the cut-offs
 *    above are absolute, and g may underflow, so exp(h - h(z*)) is
 *    integrated instead, to relative accuracy TAIL_REL_TOL, and scaled back:
 *    the result keeps its relative accuracy down to the underflow threshold.
 *    z* is the maximum of h (safeguarded Newton); zl < z* < zr are where h
 *    has fallen by TAIL_DROP = 50 (Newton from outside, which for a concave
 *    function stays outside, so every iterate is a safe limit); by concavity
 *    the mass beyond them is below e^-50 of the total. Factors use an exact
 *    log Phi (erfc, and the asymptotic series below x = -30).
 *  - Rule and polynomial coefficients were computed for this file (mpmath);
 *    see the comments at the tables.
 *
 * Plain C99; no state outside the call (thread-safe), no printing.
 */
#include "lints.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define SQRT_HALF		0.70710678118654752440084436210484904	/* 1/sqrt(2) */
#define INV_SQRT_2PI	0.39894228040143267793994605993438187	/* 1/sqrt(2 pi) */
#define LOG_SQRT_2PI	0.91893853320467274178032973640561764	/* log sqrt(2 pi) */

/* Phi(-8.5) = 9.5e-18: at or beyond X_ONE a factor is 1 to double precision */
#define X_ONE			8.5
#define X_ZERO			(-8.5)
/* 1 - Phi(z) < 1e-18 for z >= Z_MAX */
#define Z_MAX			9.0
/* in the fast path a node's value below this counts as 0 (the integrand
 * there is below 1e-20 / sqrt(2 pi)) */
#define NODE_TINY		1e-20
/* arms with s_j >= NARROW get breakpoints where their factor rises (gentler
 * ones the adaptive rule resolves by itself, and breakpoints would only add
 * panels) */
#define NARROW			10.0
/* s_j above this: arm j counts as a point mass (its spread, < 1e-15 in z,
 * moves P_a by less than 2e-16) */
#define POINT_MASS_RATIO 1e15

/* fast path: stop when the error estimates add up to at most
 * max(FAST_ABS_TOL, FAST_REL_TOL P_a) */
#define FAST_ABS_TOL	1e-12
#define FAST_REL_TOL	1e-10
/* below this the fast result is replaced by the tail path's */
#define TAIL_SWITCH		1e-6
#define TAIL_REL_TOL	1e-10
#define TAIL_DROP		50.0
/* tail path: below Phi(-40) (4e-350) nothing is representable */
#define X_FLOOR			(-40.0)
#define Z_CEIL			40.0

/* adaptive budget: panels per call; the panel with the largest error is
 * bisected rather than raised to its next rule if its estimate exceeds
 * EXTEND_LIMIT times its integral of |f| (not smooth there) */
#define MAX_PANELS		200
#define EXTEND_LIMIT	1e-2

/*
 * Nested rules on [-1, 1]: Gauss 10 (G10) within Kronrod 21 (K21) within
 * Patterson's extensions to 43 (P43) and 87 (P87) points, the sequence of
 * QUADPACK's QNG (each rule reuses all nodes of the previous one; degrees
 * 19, 31, 64, 130). Nodes x >= 0 of each stage in decreasing order (only
 * the first stage has 0), and for each stage the weights of every rule that
 * uses its nodes (G10 weight 0: a Kronrod node). Computed for this file with
 * mpmath at 120 digits: Legendre zeros; the Stieltjes-type polynomial of each
 * extension from its orthogonality to the previous nodes' polynomial; weights
 * from the moment equations; every rule checked exact to its degree.
 */
#define N1 11					/* stage 1: 21 nodes, 10 pairs and 0 */
#define N2 11					/* stage 2: 22 more, 11 pairs */
#define N3 22					/* stage 3: 44 more, 22 pairs */
static const double x21[11] = {
	9.956571630258080807355273e-1,
	9.73906528517171720077964e-1,
	9.301574913557082260012072e-1,
	8.650633666889845107320967e-1,
	7.808177265864168970637176e-1,
	6.794095682990244062343274e-1,
	5.627571346686046833390001e-1,
	4.333953941292471907992659e-1,
	2.943928627014601981311266e-1,
	1.48874338981631210884826e-1,
	0.0
};
static const double w10_21[11] = {
	0.0,
	6.667134430868813759356881e-2,
	0.0,
	1.494513491505805931457763e-1,
	0.0,
	2.190863625159820439955349e-1,
	0.0,
	2.692667193099963550912269e-1,
	0.0,
	2.95524224714752870173893e-1,
	0.0
};
static const double w21_21[11] = {
	1.16946388673718742780644e-2,
	3.255816230796472747881897e-2,
	5.47558965743519960313813e-2,
	7.503967481091995276704314e-2,
	9.312545458369760553506547e-2,
	1.093871588022976418992106e-1,
	1.234919762620658510779581e-1,
	1.34709217311473325928054e-1,
	1.427759385770600807970943e-1,
	1.477391049013384913748415e-1,
	1.494455540029169056649365e-1
};
static const double w43_21[11] = {
	5.768556059769796184184328e-3,
	1.629673428966656492428197e-2,
	2.737189059324884208127607e-2,
	3.75228761208695014616138e-2,
	4.656082691042883074333915e-2,
	5.469490205825544214721269e-2,
	6.174499520144256449624034e-2,
	6.735541460947808607555317e-2,
	7.138726726869339776855911e-2,
	7.38701996323939534321407e-2,
	7.472214751740300559442517e-2
};
static const double w87_21[11] = {
	2.884872430211530501334156e-3,
	8.148377384149172900002878e-3,
	1.368594602271270188895004e-2,
	1.876143820156282224393506e-2,
	2.328041350288831112340929e-2,
	2.734745105005228616158283e-2,
	3.087249761171335867546639e-2,
	3.367770731163793004658106e-2,
	3.569363363941877071935136e-2,
	3.693509982042790761458959e-2,
	3.736107376267902341032124e-2
};
static const double x43[11] = {
	9.993333609019320813940993e-1,
	9.874334029080888697959615e-1,
	9.548079348142662992579192e-1,
	9.001486957483282936250995e-1,
	8.251983149831141508470667e-1,
	7.321483889893049826123548e-1,
	6.228479705377252386411591e-1,
	4.994795740710564999522149e-1,
	3.649016613465807680439895e-1,
	2.222549197766012964982609e-1,
	7.465061746138332204391444e-2
};
static const double w43_43[11] = {
	1.844477640212414100389107e-3,
	1.079868958589165174046541e-2,
	2.189536386779542810252312e-2,
	3.259746397534568944388222e-2,
	4.216313793519181184762792e-2,
	5.074193960018457778018902e-2,
	5.837939554261924837547537e-2,
	6.474640495144588554468926e-2,
	6.956619791235648452863332e-2,
	7.282444147183320815093954e-2,
	7.450775101417511827357181e-2
};
static const double w87_43[11] = {
	9.152833452022413608433925e-4,
	5.399280219300471367738743e-3,
	1.094767960111893113432783e-2,
	1.62987316967873352626657e-2,
	2.108156888920383511243306e-2,
	2.5370969769253827243468e-2,
	2.918969775647575250144615e-2,
	3.237320246720278968578819e-2,
	3.4783098950365142750782e-2,
	3.641222073135178756280116e-2,
	3.7253875503047708539592e-2
};
static const double x87[22] = {
	9.999029772627292344905298e-1,
	9.979898959866787454274963e-1,
	9.921754978606872228085234e-1,
	9.813581635727127735719169e-1,
	9.650576238583846191282841e-1,
	9.431676131336705968164166e-1,
	9.158064146855072095918264e-1,
	8.832216577713165013721175e-1,
	8.45710748462415666605902e-1,
	8.035576580352309827887395e-1,
	7.570057306854955583289428e-1,
	7.062732097873218198240943e-1,
	6.515894665011779225344222e-1,
	5.932233740579610888752738e-1,
	5.314936059708319322852689e-1,
	4.667636230420228448719668e-1,
	3.994248478592188047321017e-1,
	3.298748771061882882650534e-1,
	2.58503559202161551802281e-1,
	1.856953965683466520159171e-1,
	1.118422131799074681723984e-1,
	3.735212339461987081499817e-2
};
static const double w87_87[22] = {
	2.741455637620723500165271e-4,
	1.807124155057942948341312e-3,
	4.096869282759164864458071e-3,
	6.758290051847378699816578e-3,
	9.549957672201646536053581e-3,
	1.232944765224485369462664e-2,
	1.501044734638895237669729e-2,
	1.754896798624319109966535e-2,
	1.993803778644088820227819e-2,
	2.21949359610122867963321e-2,
	2.433914712600080547036065e-2,
	2.637450541483920724150379e-2,
	2.8286910788771200659968e-2,
	3.005258112809269532252111e-2,
	3.164675137143992940458605e-2,
	3.305041341997850329078594e-2,
	3.425509970422606178708282e-2,
	3.526241266015668103378272e-2,
	3.607698962288870118550032e-2,
	3.669860449845609449801805e-2,
	3.712054926983257611411996e-2,
	3.733422875193504032123545e-2
};

/*
 * Phi(x) on [-8.5, 8.5) for the fast path, which needs it to ~1e-16
 * absolute (not relative): on each unit interval [i - 8.5, i - 7.5] a degree
 * 15 polynomial in t = 2 (x - (i - 8.5)) - 1, the Chebyshev interpolant of
 * Phi at 16 points (computed for this file with mpmath at 40 digits; its
 * own error is below 3e-18, so rounding, ~1e-16, dominates). About twice as
 * fast as erfc.
 */
static const double ndtr_poly[17][16] = {
	{6.22096056951099845e-16, 2.52613554169528386e-15, 5.05227114446496707e-15, 6.63110580650574826e-15,
		6.42059322357281245e-15, 4.88780893769492737e-15, 3.04452981685480627e-15, 1.59425654932574641e-15,
		7.15537852455017849e-16, 2.79279195045202392e-16, 9.58973703052788737e-17, 2.91413069363091196e-17,
		7.79516556722464078e-18, 1.90031448442910644e-18, 4.77501308199310030e-19, 9.09453813740388026e-20},
	{1.27981254385453357e-12, 4.56736020417976600e-12, 7.99288036132551619e-12, 9.13472040868854633e-12,
		7.65984359163665901e-12, 5.01933855091649216e-12, 2.67262004235659669e-12, 1.18692466308007800e-12,
		4.47688854928577285e-13, 1.45253172856969208e-13, 4.08956195475990949e-14, 1.00398153443504298e-14,
		2.14706312009663473e-15, 4.02328536483617054e-16, 6.93008591821893466e-17, 9.31732583474186035e-18},
	{9.86587645038266570e-10, 3.03794142491172204e-09, 4.55691213729470845e-09, 4.43033124465268465e-09,
		3.13287709596738817e-09, 1.71358883520190440e-09, 7.52365168804864376e-10, 2.71442551024693281e-10,
		8.16383663932890990e-11, 2.06152174716686513e-11, 4.37027642255619241e-12, 7.70232345952715309e-13,
		1.09909360555984645e-13, 1.17747976655003587e-14, 6.36582101092156425e-16, -5.03816483431874978e-17},
	{2.86651571879188141e-07, 7.43359757367147674e-07, 9.29199696709674053e-07, 7.43359757367293787e-07,
		4.25883194309440397e-07, 1.85065606258151791e-07, 6.29145629217725973e-08, 1.69615817896841535e-08,
		3.61528231280508620e-09, 5.91984458056476153e-10, 6.76575528989860396e-11, 3.26791138891682826e-12,
		-6.01814346003438727e-13, -1.73345819060465131e-13, -2.02734650235645715e-14, -6.73818616782378090e-16},
	{3.16712418331199785e-05, 6.69151128824426838e-05, 6.69151128824353926e-05, 4.18219455515253950e-05,
		1.81228430724809986e-05, 5.68081427077580868e-06, 1.28950998661716230e-06, 1.99359571586385569e-07,
		1.52994516423379578e-08, -1.44566722794591605e-09, -6.29131536754458755e-10, -8.48170128600621581e-11,
		-2.20865029606904351e-12, 1.15563055467657920e-12, 1.94018780119245989e-13, 7.67747072623855142e-15},
	{1.34989803163009414e-03, 2.21592420596900333e-03, 1.66194315447680714e-03, 7.38641401989673378e-04,
		2.07742894308450690e-04, 3.46238157181502231e-05, 1.73119079506383304e-06, -6.59501250851661854e-07,
		-1.70027702443699730e-07, -1.23084037390847105e-08, 1.93220938528853129e-09, 5.15243146814183605e-10,
		2.77200650878123865e-11, -5.88297986995387875e-12, -1.03159273835125853e-12, -1.20982980634899796e-14},
	{2.27501319481792086e-02, 2.69954832565940245e-02, 1.34977416282968041e-02, 3.37443540707424916e-03,
		2.81202950593896115e-04, -7.03007376472958669e-05, -2.10902213292469286e-05, -9.20604898440975415e-07,
		4.49841167432641674e-07, 7.23581527862363772e-08, -2.76094713874201643e-09, -1.73102723105020612e-09,
		-9.16166928400825939e-11, 2.34473730672059426e-11, 2.97283834842940691e-12, -1.54501204584008504e-13},
	{1.58655253931457046e-01, 1.20985362259571669e-01, 3.02463405648932225e-02, -3.14065252947614688e-17,
		-1.26026419021025432e-03, -1.26026419019727393e-04, 3.15066048062219496e-05, 6.00125804330839621e-06,
		-4.68848486312328398e-07, -1.71911017079122372e-07, 1.82372973077151333e-09, 3.59919496885968962e-09,
		1.14923863260075449e-10, -5.89556507538339829e-11, -3.69104197656875643e-12, 7.46951709555772831e-13},
	{5.00000000000000000e-01, 1.99471140200716351e-01, -2.67955171309420060e-39, -8.31129750836311597e-03,
		5.04593003499337649e-38, 3.11673656562264458e-04, -3.17288769366604699e-37, -9.27600167259196669e-06,
		9.24232433334023553e-37, 2.25458331559934454e-07, -1.37183864160807272e-36, -4.61155724755839579e-09,
		1.00798640583011154e-36, 8.11866575233148149e-11, -2.90934851828516158e-37, -1.19076140515105286e-12},
	{8.41344746068542926e-01, 1.20985362259571669e-01, -3.02463405648932225e-02, -3.14065252947614688e-17,
		1.26026419021025432e-03, -1.26026419019727393e-04, -3.15066048062219496e-05, 6.00125804330839621e-06,
		4.68848486312328398e-07, -1.71911017079122372e-07, -1.82372973077151333e-09, 3.59919496885968962e-09,
		-1.14923863260075449e-10, -5.89556507538339829e-11, 3.69104197656875643e-12, 7.46951709555772831e-13},
	{9.77249868051820791e-01, 2.69954832565940245e-02, -1.34977416282968041e-02, 3.37443540707424916e-03,
		-2.81202950593896115e-04, -7.03007376472958669e-05, 2.10902213292469286e-05, -9.20604898440975415e-07,
		-4.49841167432641674e-07, 7.23581527862363772e-08, 2.76094713874201643e-09, -1.73102723105020612e-09,
		9.16166928400825939e-11, 2.34473730672059426e-11, -2.97283834842940691e-12, -1.54501204584008504e-13},
	{9.98650101968369897e-01, 2.21592420596900333e-03, -1.66194315447680714e-03, 7.38641401989673378e-04,
		-2.07742894308450690e-04, 3.46238157181502231e-05, -1.73119079506383304e-06, -6.59501250851661854e-07,
		1.70027702443699730e-07, -1.23084037390847105e-08, -1.93220938528853129e-09, 5.15243146814183605e-10,
		-2.77200650878123865e-11, -5.88297986995387875e-12, 1.03159273835125853e-12, -1.20982980634899796e-14},
	{9.99968328758166880e-01, 6.69151128824426838e-05, -6.69151128824353926e-05, 4.18219455515253950e-05,
		-1.81228430724809986e-05, 5.68081427077580868e-06, -1.28950998661716230e-06, 1.99359571586385569e-07,
		-1.52994516423379578e-08, -1.44566722794591605e-09, 6.29131536754458755e-10, -8.48170128600621581e-11,
		2.20865029606904351e-12, 1.15563055467657920e-12, -1.94018780119245989e-13, 7.67747072623855142e-15},
	{9.99999713348428076e-01, 7.43359757367147674e-07, -9.29199696709674053e-07, 7.43359757367293787e-07,
		-4.25883194309440397e-07, 1.85065606258151791e-07, -6.29145629217725973e-08, 1.69615817896841535e-08,
		-3.61528231280508620e-09, 5.91984458056476153e-10, -6.76575528989860396e-11, 3.26791138891682826e-12,
		6.01814346003438727e-13, -1.73345819060465131e-13, 2.02734650235645715e-14, -6.73818616782378090e-16},
	{9.99999999013412300e-01, 3.03794142491172204e-09, -4.55691213729470845e-09, 4.43033124465268465e-09,
		-3.13287709596738817e-09, 1.71358883520190440e-09, -7.52365168804864376e-10, 2.71442551024693281e-10,
		-8.16383663932890990e-11, 2.06152174716686513e-11, -4.37027642255619241e-12, 7.70232345952715309e-13,
		-1.09909360555984645e-13, 1.17747976655003587e-14, -6.36582101092156425e-16, -5.03816483431874978e-17},
	{9.99999999998720135e-01, 4.56736020417976600e-12, -7.99288036132551619e-12, 9.13472040868854633e-12,
		-7.65984359163665901e-12, 5.01933855091649216e-12, -2.67262004235659669e-12, 1.18692466308007800e-12,
		-4.47688854928577285e-13, 1.45253172856969208e-13, -4.08956195475990949e-14, 1.00398153443504298e-14,
		-2.14706312009663473e-15, 4.02328536483617054e-16, -6.93008591821893466e-17, 9.31732583474186035e-18},
	{9.99999999999999334e-01, 2.52613554169528386e-15, -5.05227114446496707e-15, 6.63110580650574826e-15,
		-6.42059322357281245e-15, 4.88780893769492737e-15, -3.04452981685480627e-15, 1.59425654932574641e-15,
		-7.15537852455017849e-16, 2.79279195045202392e-16, -9.58973703052788737e-17, 2.91413069363091196e-17,
		-7.79516556722464078e-18, 1.90031448442910644e-18, -4.77501308199310030e-19, 9.09453813740388026e-20}
};

static inline double
poly_ndtr(double x)
{
	double		u = x + 8.5;
	int			i = (int) u;
	double		t = 2.0 * (u - i) - 1.0;
	const double *c = ndtr_poly[i];
	/* Estrin's scheme */
	double		t2 = t * t,
				t4 = t2 * t2,
				t8 = t4 * t4;
	double		q0 = (c[0] + c[1] * t) + (c[2] + c[3] * t) * t2,
				q1 = (c[4] + c[5] * t) + (c[6] + c[7] * t) * t2,
				q2 = (c[8] + c[9] * t) + (c[10] + c[11] * t) * t2,
				q3 = (c[12] + c[13] * t) + (c[14] + c[15] * t) * t2;

	return (q0 + q1 * t4) + (q2 + q3 * t4) * t8;
}

/* Phi(x) to ~1e-16 absolute, any x */
static inline double
fast_ndtr(double x)
{
	if (x >= -8.5 && x < 8.5)
		return poly_ndtr(x);
	return x >= 8.5 ? 1.0 : 0.5 * erfc(-x * SQRT_HALF);
}

typedef struct
{
	double		a,
				b,
				value,			/* current estimate: K21, P43 or P87 */
				error,
				part43,			/* P43 and P87 sums over the nodes evaluated so far */
				part87,
				absolute,		/* K21 of |f| and of |f - mean|, for the error estimate */
				spread;
	int			stage;			/* 1, 2 or 3 */
} panel;

typedef struct
{
	int			n;				/* arms in c, s */
	const double *c;
	const double *s;
	int		   *active;			/* scratch, n entries */
	bool		log_domain;		/* integrand exp(h(z) - shift), else g(z) sqrt(2 pi) */
	double		shift;
} problem;

/*
 * log Phi(x) and the inverse Mills ratio phi(x) / Phi(x) (and, if wanted,
 * its negative derivative ratio*(x + ratio), in (0, 1)). Accurate for all
 * x; for x < -30 from the asymptotic series
 * Phi(-t) = phi(t)/t (1 - 1/t^2 + 3/t^4 - ...), truncated after 1/t^14
 * (relative error below 5e-18 there).
 */
static double
log_ndtr(double x, double *mills, double *mills_slope)
{
	if (x > -30.0)
	{
		double		cdf = 0.5 * erfc(-x * SQRT_HALF);
		double		ratio;

		if (mills != NULL)
		{
			ratio = INV_SQRT_2PI * exp(-0.5 * x * x) / cdf;
			*mills = ratio;
			if (mills_slope != NULL)
				*mills_slope = ratio * (x + ratio);
		}
		return x > 0.0 ? log1p(-0.5 * erfc(x * SQRT_HALF)) : log(cdf);
	}
	else
	{
		double		t = -x,
					u = 1.0 / (t * t);
		/* 1 - series = u (1 - 3u (1 - 5u (...))) */
		double		rest = u * (1.0 - 3.0 * u * (1.0 - 5.0 * u * (1.0 - 7.0 * u * (1.0 - 9.0 * u
									* (1.0 - 11.0 * u * (1.0 - 13.0 * u))))));
		double		series = 1.0 - rest;

		if (mills != NULL)
		{
			*mills = t / series;
			/* ratio (x + ratio) = (t / S) (t (1 - S) / S) */
			if (mills_slope != NULL)
				*mills_slope = (t / series) * (t * rest / series);
		}
		return -0.5 * t * t - log(t) - LOG_SQRT_2PI + log(series);
	}
}

/* the integrand (scaled, see problem) at z[0..n-1], arms active[0..m-1] */
static void
eval_nodes(const problem *pb, int m, const double *z, int n, double *out)
{
	int			i,
				k;

	for (i = 0; i < n; i++)
	{
		double		zi = z[i];

		if (pb->log_domain)
		{
			double		h = -0.5 * zi * zi - pb->shift;

			for (k = 0; k < m; k++)
			{
				int			j = pb->active[k];
				double		x = pb->c[j] + pb->s[j] * zi;

				/* above -3, Phi to 1e-16 absolute is 1e-13 relative */
				if (x >= -3.0)
				{
					if (x < X_ONE)
						h += log(poly_ndtr(x));
				}
				else
					h += log_ndtr(x, NULL, NULL);
			}
			out[i] = exp(h);
		}
		else
		{
			double		v = exp(-0.5 * zi * zi);

			for (k = 0; k < m; k++)
			{
				int			j = pb->active[k];
				double		x = pb->c[j] + pb->s[j] * zi;

				if (x < X_ONE)
				{
					v *= fast_ndtr(x);
					if (v < NODE_TINY)
					{
						v = 0.0;
						break;
					}
				}
			}
			out[i] = v;
		}
	}
}

/*
 * The integrand at mid -/+ half x[i] for i < count, into lo[], hi[] (a node
 * x = 0 is evaluated once, into lo[], with hi[] = 0). Returns false (and
 * leaves lo, hi unset) if in the fast path some factor is below 1e-17 on all
 * of [a, b]: the panel then counts as 0.
 */
static bool
eval_pairs(const problem *pb, double a, double b, const double *x, int count,
		   double *lo, double *hi)
{
	double		half = 0.5 * (b - a),
				mid = 0.5 * (a + b);
	double		z[2 * N3],
				f[2 * N3];
	int			i,
				j,
				n = 0,
				m = 0;

	/* arms whose factor is below 1 somewhere on [a, b] */
	for (j = 0; j < pb->n; j++)
	{
		if (pb->c[j] + pb->s[j] * a < X_ONE)
		{
			if (!pb->log_domain && pb->c[j] + pb->s[j] * b <= X_ZERO)
				return false;
			pb->active[m++] = j;
		}
	}
	for (i = 0; i < count; i++)
	{
		z[n++] = mid - half * x[i];
		if (x[i] != 0.0)
			z[n++] = mid + half * x[i];
	}
	eval_nodes(pb, m, z, n, f);
	for (i = 0, n = 0; i < count; i++)
	{
		lo[i] = f[n++];
		hi[i] = (x[i] != 0.0) ? f[n++] : 0.0;
	}
	return true;
}

/* error estimate from the difference of two rules (QUADPACK's scaling) */
static double
rule_error(double difference, const panel *p)
{
	double		err = fabs(difference);

	/*
	 * |K21 - G10| bounds the error of G10; that of K21 is far smaller on
	 * smooth integrands, hence the usual scaling spread * min(1,
	 * (200 |difference| / spread)^1.5); never below 50 ulps of the integral
	 * of |f|.
	 */
	if (p->spread > 0.0 && err > 0.0)
	{
		double		r = 200.0 * err / p->spread;

		err = (r < 1.0) ? p->spread * r * sqrt(r) : p->spread;
	}
	if (p->absolute > DBL_MIN / (50.0 * DBL_EPSILON))
		err = fmax(err, 50.0 * DBL_EPSILON * p->absolute);
	return err;
}

/* stage 1 on [p->a, p->b]: K21 and G10 */
static void
panel_start(const problem *pb, panel *p)
{
	double		lo[N1],
				hi[N1],
				half = 0.5 * (p->b - p->a);
	double		k21 = 0.0,
				g10 = 0.0,
				p43 = 0.0,
				p87 = 0.0,
				absolute = 0.0,
				spread = 0.0,
				mean;
	int			i;

	p->stage = 1;
	if (!eval_pairs(pb, p->a, p->b, x21, N1, lo, hi))
	{
		p->value = p->error = p->part43 = p->part87 = p->absolute = p->spread = 0.0;
		p->stage = 3;
		return;
	}
	for (i = 0; i < N1; i++)
	{
		double		pair = lo[i] + hi[i];

		k21 += w21_21[i] * pair;
		g10 += w10_21[i] * pair;
		p43 += w43_21[i] * pair;
		p87 += w87_21[i] * pair;
		absolute += w21_21[i] * (fabs(lo[i]) + fabs(hi[i]));
	}
	mean = 0.5 * k21;
	for (i = 0; i < N1; i++)
		spread += w21_21[i] * (fabs(lo[i] - mean) + (x21[i] != 0.0 ? fabs(hi[i] - mean) : 0.0));
	p->value = k21 * half;
	p->part43 = p43;
	p->part87 = p87;
	p->absolute = absolute * fabs(half);
	p->spread = spread * fabs(half);
	p->error = rule_error((k21 - g10) * half, p);
}

/* the next stage: P43 (compared with K21) or P87 (compared with P43) */
static void
panel_extend(const problem *pb, panel *p)
{
	double		lo[N3],
				hi[N3],
				half = 0.5 * (p->b - p->a),
				previous = p->value;
	int			i;

	if (p->stage == 1)
	{
		double		add43 = 0.0,
					add87 = 0.0;

		if (eval_pairs(pb, p->a, p->b, x43, N2, lo, hi))
		{
			for (i = 0; i < N2; i++)
			{
				add43 += w43_43[i] * (lo[i] + hi[i]);
				add87 += w87_43[i] * (lo[i] + hi[i]);
			}
		}
		p->part43 += add43;
		p->part87 += add87;
		p->value = p->part43 * half;
		p->stage = 2;
	}
	else
	{
		double		add87 = 0.0;

		if (eval_pairs(pb, p->a, p->b, x87, N3, lo, hi))
			for (i = 0; i < N3; i++)
				add87 += w87_87[i] * (lo[i] + hi[i]);
		p->value = (p->part87 + add87) * half;
		p->stage = 3;
	}
	p->error = rule_error(p->value - previous, p);
}

/*
 * Global adaptive integration over the panels between the sorted points
 * pts[0..npts-1] (empty panels skipped). The panel with the largest error
 * estimate is refined until the estimates add up to at most
 * max(abs_tol, rel_tol * |value|): raised to the next rule while its
 * estimate is modest (smooth there), else bisected. Returns 0, or -1 if
 * MAX_PANELS panels do not suffice.
 */
static int
integrate(const problem *pb, const double *pts, int npts, double abs_tol, double rel_tol,
		  panel *pan, double *value)
{
	int			n = 0,
				i,
				stride = 1;
	double		stuck = 0.0;	/* error of panels too narrow to bisect */

	/* breakpoints are hints: with very many arms keep every stride-th */
	while ((npts - 2) / stride + 1 > MAX_PANELS / 2)
		stride++;
	for (i = 0; i + 1 < npts; i += stride)
	{
		double		b = pts[(i + stride < npts - 1) ? i + stride : npts - 1];

		if (b > pts[i])
		{
			pan[n].a = pts[i];
			pan[n].b = b;
			panel_start(pb, &pan[n]);
			n++;
		}
	}
	for (;;)
	{
		double		sum = 0.0,
					err = stuck,
					mid;
		int			worst = 0;
		panel	   *p;

		for (i = 0; i < n; i++)
		{
			sum += pan[i].value;
			err += pan[i].error;
			if (pan[i].error > pan[worst].error)
				worst = i;
		}
		if (err <= fmax(abs_tol, rel_tol * fabs(sum)))
		{
			*value = sum;
			return 0;
		}
		if (n == 0 || !(err < HUGE_VAL))
			return -1;
		p = &pan[worst];
		if (p->stage < 3 && p->error <= EXTEND_LIMIT * p->absolute)
		{
			panel_extend(pb, p);
			continue;
		}
		if (n >= MAX_PANELS)
			return -1;
		mid = 0.5 * (p->a + p->b);
		if (!(mid > p->a && mid < p->b))
		{
			stuck += p->error;
			p->error = 0.0;
			continue;
		}
		pan[n].a = mid;
		pan[n].b = p->b;
		p->b = mid;
		panel_start(pb, p);
		panel_start(pb, &pan[n]);
		n++;
	}
}

static void
sort_points(double *p, int n)
{
	int			i,
				j;

	for (i = 1; i < n; i++)
	{
		double		v = p[i];

		for (j = i; j > 0 && p[j - 1] > v; j--)
			p[j] = p[j - 1];
		p[j] = v;
	}
}

/* h(z) = log(g(z) sqrt(2 pi)) over all arms, with h' and h'' if wanted */
static double
log_integrand(const problem *pb, double z, double *d1, double *d2)
{
	double		h = -0.5 * z * z,
				g1 = -z,
				g2 = -1.0;
	int			j;

	for (j = 0; j < pb->n; j++)
	{
		double		x = pb->c[j] + pb->s[j] * z,
					mills,
					slope;

		if (x >= X_ONE)
			continue;
		h += log_ndtr(x, &mills, &slope);
		g1 += pb->s[j] * mills;
		g2 -= pb->s[j] * pb->s[j] * slope;
	}
	if (d1 != NULL)
		*d1 = g1;
	if (d2 != NULL)
		*d2 = g2;
	return h;
}

/*
 * Where h falls to target on the side of z* that start lies on (h(start) <= target):
 * Newton from outside, which for concave h stays outside, so every iterate is
 * a safe limit; stops once within 1 of target.
 */
static double
tail_limit(const problem *pb, double start, double target)
{
	double		z = start;
	int			iter;

	for (iter = 0; iter < 60; iter++)
	{
		double		d1,
					h = log_integrand(pb, z, &d1, NULL),
					next;

		if (h >= target - 1.0 || d1 == 0.0 || !isfinite(d1))
			break;
		next = z + (target - h) / d1;
		if (!isfinite(next) || next == z)
			break;
		z = next;
	}
	return z;
}

/*
 * The tail path: P_a on [lower, Z_CEIL] (lower may be -HUGE_VAL) to relative
 * accuracy, by integrating exp(h - h(z*)). Returns 0 or -1.
 */
static int
tail_probability(problem *pb, double lower, double *points, panel *pan, double *prob)
{
	double		lo = fmax(lower, -Z_CEIL),
				zmin,
				zmax = Z_CEIL,
				zstar,
				hstar,
				d1,
				d2,
				target,
				zl,
				zr,
				start,
				value;
	int			j,
				iter,
				npts = 0;

	/* below x_j = X_FLOOR a factor is < 4e-350: nothing representable */
	for (j = 0; j < pb->n; j++)
		lo = fmax(lo, (X_FLOOR - pb->c[j]) / pb->s[j]);
	if (!(lo < Z_CEIL))
	{
		*prob = 0.0;
		return 0;
	}

	/* the maximum z*: h'(z) > 0 for z < 0, so z* >= max(lo, 0) */
	zmin = fmax(lo, 0.0);
	log_integrand(pb, zmin, &d1, NULL);
	if (d1 <= 0.0)
		zstar = zmin;
	else
	{
		log_integrand(pb, zmax, &d1, NULL);
		if (d1 > 0.0)
		{
			/* the maximum lies beyond z = 40: P_a < 1e-322 */
			*prob = 0.0;
			return 0;
		}
		zstar = zmin;
		for (iter = 0; iter < 100; iter++)
		{
			double		next;

			log_integrand(pb, zstar, &d1, &d2);
			if (d1 > 0.0)
				zmin = zstar;
			else
				zmax = zstar;
			next = zstar - d1 / d2;
			if (!(next > zmin && next < zmax))
				next = 0.5 * (zmin + zmax);
			if (fabs(next - zstar) <= 1e-12 * (1.0 + fabs(zstar)) || zmax - zmin <= 1e-14 * (1.0 + fabs(zstar)))
			{
				zstar = next;
				break;
			}
			zstar = next;
		}
	}
	hstar = log_integrand(pb, zstar, NULL, NULL);
	target = hstar - TAIL_DROP;

	/* left limit: h(z) <= h* + (z*^2 - z^2) / 2 for z < z* */
	start = fmax(lo, -sqrt(zstar * zstar + 2.0 * TAIL_DROP));
	if (start >= zstar)
		zl = zstar;
	else if (log_integrand(pb, start, NULL, NULL) >= target)
		zl = start;
	else
		zl = tail_limit(pb, start, target);
	/* right limit: h(z) <= -z^2 / 2 */
	start = fmax(zstar, sqrt(2.0 * (TAIL_DROP - hstar)));
	zr = (start > zstar) ? tail_limit(pb, start, target) : zstar;
	if (!(zr > zl))
	{
		*prob = 0.0;
		return 0;
	}

	points[npts++] = zl;
	points[npts++] = zr;
	if (zstar > zl && zstar < zr)
		points[npts++] = zstar;
	/* steps of arms narrow compared with [zl, zr] */
	for (j = 0; j < pb->n; j++)
	{
		double		width = (X_ONE - X_ZERO) / pb->s[j];
		double		p0 = -pb->c[j] / pb->s[j];

		if (width * 4.0 < zr - zl)
		{
			double		cand[3];
			int			q;

			cand[0] = p0 + X_ZERO / pb->s[j];
			cand[1] = p0;
			cand[2] = p0 + X_ONE / pb->s[j];
			for (q = 0; q < 3; q++)
				if (cand[q] > zl && cand[q] < zr)
					points[npts++] = cand[q];
		}
	}
	sort_points(points, npts);

	pb->log_domain = true;
	pb->shift = hstar;
	if (integrate(pb, points, npts, 0.0, TAIL_REL_TOL, pan, &value) != 0)
		return -1;
	if (!(value > 0.0))
	{
		*prob = 0.0;
		return 0;
	}
	*prob = fmin(1.0, exp(hstar - LOG_SQRT_2PI + log(value)));
	return 0;
}

/*
 * The maximum of g on [lo, hi] (h' > 0 below 0, so it lies at or above
 * max(lo, 0)), to within about a hundredth of its width: safeguarded Newton
 * on h'. Only a breakpoint, so it need not be precise.
 */
static double
fast_mode(const problem *pb, double lo, double hi)
{
	double		left = fmax(lo, 0.0),
				right = hi,
				z = left;
	int			iter;

	for (iter = 0; iter < 30; iter++)
	{
		double		d1 = -z,
					d2 = -1.0,
					next;
		int			j;

		for (j = 0; j < pb->n; j++)
		{
			double		x = pb->c[j] + pb->s[j] * z,
						cdf,
						ratio;

			if (x >= X_ONE)
				continue;
			if (x < -5.0)
			{
				/* ratio ~ t / (1 - 1/t^2 + 3/t^4) with t = -x (to ~1e-3) */
				double		u = 1.0 / (x * x);

				ratio = -x / (1.0 - u * (1.0 - 3.0 * u));
				d1 += pb->s[j] * ratio;
				d2 -= pb->s[j] * pb->s[j] * ratio * (x + ratio);
				continue;
			}
			cdf = fast_ndtr(x);
			ratio = INV_SQRT_2PI * exp(-0.5 * x * x) / cdf;
			d1 += pb->s[j] * ratio;
			d2 -= pb->s[j] * pb->s[j] * ratio * (x + ratio);
		}
		if (iter == 0 && d1 <= 0.0)
			return z;			/* decreasing from the left end */
		if (d1 > 0.0)
			left = z;
		else
			right = z;
		next = z - d1 / d2;
		if (!(next > left && next < right))
			next = 0.5 * (left + right);
		if (fabs(next - z) * sqrt(-d2) < 0.01 || right - left < 1e-9)
			return next;
		z = next;
	}
	return z;
}

/*
 * A lower limit above lo below which prod Phi(x_j) <= 1e-17, from
 * Phi(x) <= exp(-x^2 / 2) / 2 for x <= 0 (bisection; the bound is
 * nondecreasing in z).
 */
static double
product_lower_limit(const problem *pb, double lo, double hi)
{
	const double log_limit = -39.1439465808987777;	/* log(1e-17) */
	double		left = lo,
				right = hi;
	int			iter,
				j;

	for (iter = 0; iter < 24; iter++)
	{
		double		z = (iter == 0) ? lo : 0.5 * (left + right),
					bound = 0.0;

		for (j = 0; j < pb->n && bound > log_limit; j++)
		{
			double		x = pb->c[j] + pb->s[j] * z;

			if (x < 0.0)
				bound -= 0.5 * x * x + 0.69314718055994530942;	/* log 2 */
		}
		if (iter == 0)
		{
			if (bound > log_limit)
				return lo;
			continue;
		}
		if (bound <= log_limit)
			left = z;
		else
			right = z;
	}
	return left;
}

/* P_a for a continuous arm a: factors Phi(c_j + s_j z), z > lower */
static int
continuous_probability(problem *pb, double lower, double *points, panel *pan, double *prob)
{
	double		lo = fmax(lower, -Z_MAX),
				hi = Z_MAX,
				value;
	int			j,
				npts = 0;

	for (j = 0; j < pb->n; j++)
		lo = fmax(lo, (X_ZERO - pb->c[j]) / pb->s[j]);
	if (lo < hi)
	{
		int			active = 0;

		for (j = 0; j < pb->n; j++)
			active += (pb->c[j] + pb->s[j] * lo < X_ONE);
		if (active == 0)
		{
			/* every factor is 1 above lo, which is then max(lower, -Z_MAX) */
			*prob = 0.5 * erfc(lower * SQRT_HALF);
			return 0;
		}
		lo = product_lower_limit(pb, lo, hi);
	}
	/* P_a <= P(z > lo) + 1e-17: if that is below TAIL_SWITCH, go straight to the tail path */
	if (lo < hi && 0.5 * erfc(lo * SQRT_HALF) + 1e-17 >= TAIL_SWITCH)
	{
		double		mode = fast_mode(pb, lo, hi);

		points[npts++] = lo;
		points[npts++] = hi;
		if (mode > lo && mode < hi)
			points[npts++] = mode;
		for (j = 0; j < pb->n; j++)
		{
			if (pb->s[j] >= NARROW)
			{
				double		p0 = -pb->c[j] / pb->s[j],
							p1 = (X_ONE - pb->c[j]) / pb->s[j];

				if (p0 > lo && p0 < hi)
					points[npts++] = p0;
				if (p1 > lo && p1 < hi)
					points[npts++] = p1;
			}
		}
		sort_points(points, npts);
		pb->log_domain = false;
		pb->shift = 0.0;
		if (integrate(pb, points, npts, FAST_ABS_TOL, FAST_REL_TOL, pan, &value) != 0)
			return -1;
		value *= INV_SQRT_2PI;
		if (value >= TAIL_SWITCH)
		{
			*prob = fmin(1.0, value);
			return 0;
		}
	}
	return tail_probability(pb, lower, points, pan, prob);
}

int
lints_prob_best(int k, const double *mu, const double *sd, const bool *enabled, int a, double *prob)
{
	/* c, s (k each), breakpoints (3 k + 4) */
#define SCRATCH(k) (5 * (k) + 4)
	double		stack_buf[SCRATCH(64)];
	int			stack_idx[64];
	panel		pan[MAX_PANELS];
	double	   *buf = stack_buf;
	int		   *idx = stack_idx;
	double		lower = -HUGE_VAL,
				log_constant = 0.0;
	problem		pb;
	int			j,
				n = 0,
				status;

	if (k < 1 || mu == NULL || sd == NULL || prob == NULL || a < 0 || a >= k ||
		(enabled != NULL && !enabled[a]))
		return -1;
	for (j = 0; j < k; j++)
		if ((enabled == NULL || enabled[j]) && (!isfinite(mu[j]) || !isfinite(sd[j]) || sd[j] < 0.0))
			return -1;

	if (sd[a] == 0.0)
	{
		/* a point mass: it wins if no point mass lies above it (sharing ties)
		 * and every continuous arm falls below mu_a */
		double		log_p = 0.0;
		int			ties = 0;

		for (j = 0; j < k; j++)
		{
			if (enabled != NULL && !enabled[j])
				continue;
			if (sd[j] == 0.0)
			{
				if (mu[j] > mu[a])
				{
					*prob = 0.0;
					return 0;
				}
				if (mu[j] == mu[a])
					ties++;
			}
			else
				log_p += log_ndtr(fmax((mu[a] - mu[j]) / sd[j], X_FLOOR - 1.0), NULL, NULL);
		}
		*prob = exp(log_p) / ties;
		return 0;
	}

	if (k > 64)
	{
		buf = malloc(sizeof(double) * SCRATCH(k));
		idx = malloc(sizeof(int) * k);
		if (buf == NULL || idx == NULL)
		{
			free(buf);
			free(idx);
			return -1;
		}
	}
	for (j = 0; j < k; j++)
	{
		double		c,
					s;

		if (j == a || (enabled != NULL && !enabled[j]))
			continue;
		s = sd[a] / sd[j];
		c = (mu[a] - mu[j]) / sd[j];
		if (sd[j] == 0.0 || !(s <= POINT_MASS_RATIO))
		{
			/* a step at z = (mu_j - mu_a) / sd_a */
			lower = fmax(lower, (mu[j] - mu[a]) / sd[a]);
			continue;
		}
		if (c == HUGE_VAL)
			continue;			/* factor 1 */
		if (c == -HUGE_VAL)
		{
			lower = HUGE_VAL;	/* factor 0 */
			continue;
		}
		if (s == 0.0)
		{
			/* sd_a / sd_j underflowed: a constant factor */
			log_constant += log_ndtr(fmax(c, X_FLOOR - 1.0), NULL, NULL);
			continue;
		}
		buf[n] = c;
		buf[k + n] = s;
		n++;
	}
	if (lower == HUGE_VAL)
	{
		*prob = 0.0;
		status = 0;
	}
	else if (n == 0)
	{
		/* only steps: P(z > lower), times the constant factors */
		*prob = 0.5 * erfc(lower * SQRT_HALF) * exp(log_constant);
		status = 0;
	}
	else
	{
		pb.n = n;
		pb.c = buf;
		pb.s = buf + k;
		pb.active = idx;
		status = continuous_probability(&pb, lower, buf + 2 * k, pan, prob);
		if (status == 0 && log_constant < 0.0)
			*prob *= exp(log_constant);
	}
	if (buf != stack_buf)
	{
		free(buf);
		free(idx);
	}
	return status;
#undef SCRATCH
}
