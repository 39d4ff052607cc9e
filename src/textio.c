/*
 * textio.c
 *		Text input cursor and output helpers shared by the posterior types.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"

#include "textio.h"

void
text_syntax_error(TextCursor *cur, const char *expected)
{
	/* quote long inputs (a linear_posterior can be megabytes) in part */
	int			len = strlen(cur->input);
	int			shown = len <= 120 ? len : pg_mbcliplen(cur->input, len, 100);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%.*s%s\"",
					cur->type_name, shown, cur->input, shown < len ? "..." : ""),
			 errdetail("Expected %s at position %d.", expected,
					   (int) (cur->pos - cur->input) + 1)));
}

void
skip_spaces(TextCursor *cur)
{
	while (isspace((unsigned char) *cur->pos))
		cur->pos++;
}

void
expect_char(TextCursor *cur, char c, const char *what)
{
	skip_spaces(cur);
	if (*cur->pos != c)
		text_syntax_error(cur, what);
	cur->pos++;
}

void
expect_key(TextCursor *cur, const char *key)
{
	size_t		len = strlen(key);

	skip_spaces(cur);
	if (strncmp(cur->pos, key, len) != 0)
		text_syntax_error(cur, psprintf("\"%s=\"", key));
	cur->pos += len;
	expect_char(cur, '=', psprintf("\"=\" after \"%s\"", key));
}

double
read_float(TextCursor *cur, const char *what)
{
	char	   *end;
	double		value;

	skip_spaces(cur);
	errno = 0;
	value = strtod(cur->pos, &end);
	/* as float8in: ERANGE is an error on overflow or underflow to zero, not for subnormals */
	if (end == cur->pos || (errno == ERANGE && (value == 0.0 || isinf(value))))
		text_syntax_error(cur, psprintf("a number for \"%s\"", what));
	cur->pos = end;
	return value;
}

double
read_float_field(TextCursor *cur, const char *key)
{
	expect_key(cur, key);
	return read_float(cur, key);
}

int64
read_count_field(TextCursor *cur, const char *key)
{
	char	   *end;
	long long	value;

	expect_key(cur, key);
	skip_spaces(cur);
	if (!isdigit((unsigned char) *cur->pos) && *cur->pos != '-')
		text_syntax_error(cur, psprintf("an integer for \"%s\"", key));
	errno = 0;
	value = strtoll(cur->pos, &end, 10);
	if (end == cur->pos || errno == ERANGE)
		text_syntax_error(cur, psprintf("an integer for \"%s\"", key));
	cur->pos = end;
	return (int64) value;
}

void
expect_end(TextCursor *cur)
{
	expect_char(cur, ')', "\")\"");
	skip_spaces(cur);
	if (*cur->pos != '\0')
		text_syntax_error(cur, "end of input");
}

void
append_float(StringInfo buf, double value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(value, digits);
	appendStringInfoString(buf, digits);
}

void
append_float_field(StringInfo buf, const char *key, double value, bool last)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(value, digits);
	appendStringInfo(buf, "%s=%s%s", key, digits, last ? "" : ", ");
}
