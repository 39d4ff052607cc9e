/*
 * textio.h
 *		A small cursor for the types' text input, "(key=value, ...)", and the
 *		matching output helpers.  Keys come in a fixed order; whitespace is
 *		allowed around tokens; every syntax error is 22P02 with the position.
 */
#ifndef BANDIT_TEXTIO_H
#define BANDIT_TEXTIO_H

#include "postgres.h"
#include "lib/stringinfo.h"

typedef struct TextCursor
{
	const char *type_name;
	const char *input;
	const char *pos;
} TextCursor;

extern void text_syntax_error(TextCursor *cur, const char *expected) pg_attribute_noreturn();
extern void skip_spaces(TextCursor *cur);
extern void expect_char(TextCursor *cur, char c, const char *what);
extern void expect_key(TextCursor *cur, const char *key);
extern double read_float(TextCursor *cur, const char *what);
extern double read_float_field(TextCursor *cur, const char *key);
extern int64 read_count_field(TextCursor *cur, const char *key);
extern void expect_end(TextCursor *cur);
extern void append_float(StringInfo buf, double value);
extern void append_float_field(StringInfo buf, const char *key, double value, bool last);

#endif							/* BANDIT_TEXTIO_H */
