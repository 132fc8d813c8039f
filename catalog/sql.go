package catalog

import (
	"fmt"
	"regexp"
	"strings"
)

// Statement is one SQL statement of an operation, ready for the driver.
type Statement struct {
	// SQL is the statement with each :name replaced by '?'.
	SQL string
	// Params names the parameter bound to each '?', in order.
	Params []string
	// Line is the line of the file where the statement begins.
	Line int
	// Rows is the statement's "-- rows:" rule, or nil.
	Rows *RowCount
}

// paramUse is where a parameter is used.
type paramUse struct {
	name string
	line int
}

// lineError is an error at a line of the file being parsed.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func errAt(line int, format string, args ...any) *lineError {
	return &lineError{line: line, msg: fmt.Sprintf(format, args...)}
}

// splitSQL splits src, which begins at line firstLine of its file, into
// statements on ';' outside quotes and comments, and replaces each :name
// with '?'. Statements of only comments and space are dropped.
func splitSQL(src string, firstLine int) ([]Statement, []paramUse, error) {
	var (
		stmts []Statement
		uses  []paramUse
		cur   strings.Builder
		st    Statement
		code  bool // the current statement has something besides comments and space
		line  = firstLine
		// rows is a "-- rows:" rule waiting for its statement, which must
		// begin on the next line.
		rows      *RowCount
		rowsLine  int
		misplaced error
	)
	startCode := func() {
		if !code {
			code = true
			st.Line = line
			if rows != nil {
				if line != rowsLine+1 && misplaced == nil {
					misplaced = errAt(rowsLine, "a \"-- rows:\" line must be directly above its statement (the next line begins it)")
				}
				st.Rows, rows = rows, nil
			}
		}
	}
	finish := func() {
		if code {
			st.SQL = strings.TrimSpace(cur.String())
			stmts = append(stmts, st)
		}
		cur.Reset()
		st, code = Statement{}, false
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			cur.WriteByte(c)
			i++
		case c == '\'' || c == '"' || c == '`':
			startCode()
			j, nl, ok := scanQuoted(src, i)
			if !ok {
				return nil, nil, errAt(line, "unterminated %s", quoteName(c))
			}
			cur.WriteString(src[i:j])
			line += nl
			i = j
		case c == '-' && strings.HasPrefix(src[i:], "--") && (i+2 == len(src) || src[i+2] <= ' '):
			j := lineEnd(src, i)
			if key, ok := directive(src[i:j]); ok && key == "rows" {
				if code || rows != nil {
					return nil, nil, errAt(line, "a \"-- rows:\" line must be directly above a statement, not inside one")
				}
				r, err := parseRowCount(line, directiveRE.FindStringSubmatch(strings.TrimSpace(src[i:j]))[2])
				if err != nil {
					return nil, nil, errAt(line, "rows: %v", err)
				}
				r.Else.Line = line
				rows, rowsLine = r, line
				i = j
				continue
			} else if ok {
				return nil, nil, errAt(line, "header line %q after the SQL began; move it to the top of the file", "-- "+key+":")
			}
			cur.WriteString(src[i:j])
			i = j
		case c == '#':
			j := lineEnd(src, i)
			cur.WriteString(src[i:j])
			i = j
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, nil, errAt(line, "unterminated /* comment")
			}
			j := i + 2 + end + 2
			if strings.HasPrefix(src[i:], "/*!") || strings.HasPrefix(src[i:], "/*M!") {
				startCode() // executable comment: code for the server
			}
			cur.WriteString(src[i:j])
			line += strings.Count(src[i:j], "\n")
			i = j
		case c == ':' && i+1 < len(src) && src[i+1] == ':':
			startCode()
			cur.WriteString("::")
			i += 2
		case c == ':' && i+1 < len(src) && isIdentStart(src[i+1]):
			startCode()
			j := i + 1
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			name := src[i+1 : j]
			st.Params = append(st.Params, name)
			uses = append(uses, paramUse{name, line})
			cur.WriteByte('?')
			i = j
		case c == '?':
			return nil, nil, errAt(line, "positional '?' placeholders are not supported; use named parameters such as :id")
		case c == ';':
			finish()
			i++
		default:
			if c > ' ' {
				startCode()
			}
			cur.WriteByte(c)
			i++
		}
	}
	finish()
	if misplaced != nil {
		return nil, nil, misplaced
	}
	if rows != nil {
		return nil, nil, errAt(rowsLine, "a \"-- rows:\" line with no statement after it")
	}
	for _, s := range stmts {
		if err := checkStatement(s); err != nil {
			return nil, nil, err
		}
	}
	return stmts, uses, nil
}

// scanQuoted returns the index just past the quoted text that starts at
// src[i], and how many newlines it holds. Quotes are escaped by doubling
// them, and in strings (not `identifiers`) by a backslash.
func scanQuoted(src string, i int) (end, newlines int, ok bool) {
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\n':
			newlines++
		case '\\':
			if q != '`' && j+1 < len(src) {
				j++
				if src[j] == '\n' {
					newlines++
				}
			}
		case q:
			if j+1 < len(src) && src[j+1] == q {
				j++
				continue
			}
			return j + 1, newlines, true
		}
	}
	return 0, 0, false
}

func quoteName(q byte) string {
	switch q {
	case '\'':
		return "'string'"
	case '"':
		return `"string"`
	}
	return "`identifier`"
}

// lineEnd returns the index of the newline ending the line at i, or
// len(src).
func lineEnd(src string, i int) int {
	if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(src)
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// forbidden are statements that would end the transaction an operation
// runs in (explicitly or by an implicit commit) or leave state on the
// pooled connection.
var forbidden = map[string]bool{
	"BEGIN": true, "START": true, "COMMIT": true, "ROLLBACK": true, "XA": true,
	"LOCK": true, "UNLOCK": true, "USE": true, "SET": true, "DELIMITER": true,
	"CREATE": true, "ALTER": true, "DROP": true, "TRUNCATE": true, "RENAME": true,
	"GRANT": true, "REVOKE": true, "FLUSH": true, "LOAD": true, "INSTALL": true,
	"UNINSTALL": true, "SHUTDOWN": true, "KILL": true, "BINLOG": true, "RESET": true,
	"CHANGE": true, "PURGE": true, "CACHE": true, "ANALYZE": true, "OPTIMIZE": true,
	"REPAIR": true, "CHECK": true, "PREPARE": true, "EXECUTE": true, "DEALLOCATE": true,
}

// checkStatement refuses statements that break the one-transaction model.
func checkStatement(s Statement) error {
	first, rest := leadingWord(s.SQL)
	if !forbidden[first] {
		return nil
	}
	next, _ := leadingWord(rest)
	switch {
	case first == "SET" && strings.HasPrefix(strings.TrimSpace(rest), "@") && !strings.HasPrefix(strings.TrimSpace(rest), "@@"):
		return nil // user variables
	case first == "ROLLBACK" && next == "TO":
		return nil // to a savepoint
	}
	return errAt(s.Line, "%s statements are not allowed: an operation runs inside one transaction on a pooled connection", first)
}

// returnsRows reports whether a statement is a query that returns rows
// (SELECT, WITH, VALUES, TABLE, without INTO): its "-- rows:" rule
// counts the rows it returns, not the rows it changes.
func returnsRows(st Statement) bool {
	first, _ := leadingWord(st.SQL)
	switch first {
	case "SELECT", "WITH", "VALUES", "TABLE":
		return !intoRE.MatchString(codeOnly(st.SQL))
	}
	return false
}

var intoRE = regexp.MustCompile(`(?i)\binto\b`)

// codeOnly returns a statement with its quoted text and comments blanked
// out, for matching keywords.
func codeOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j, _, ok := scanQuoted(s, i)
			if !ok {
				return b.String()
			}
			b.WriteByte(' ')
			i = j
		case c == '#' || (c == '-' && strings.HasPrefix(s[i:], "--") && (i+2 == len(s) || s[i+2] <= ' ')):
			b.WriteByte(' ')
			i = lineEnd(s, i)
		case c == '/' && strings.HasPrefix(s[i:], "/*") && !strings.HasPrefix(s[i:], "/*!") && !strings.HasPrefix(s[i:], "/*M!"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return b.String()
			}
			b.WriteByte(' ')
			i += end + 4
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// leadingWord skips space and comments and returns the first word, upper
// case, and the text after it.
func leadingWord(s string) (word, rest string) {
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"), strings.HasPrefix(s, "#"):
			s = s[lineEnd(s, 0):]
			continue
		case strings.HasPrefix(s, "/*") && !strings.HasPrefix(s, "/*!") && !strings.HasPrefix(s, "/*M!"):
			end := strings.Index(s, "*/")
			if end < 0 {
				return "", ""
			}
			s = s[end+2:]
			continue
		}
		break
	}
	j := 0
	for j < len(s) && isIdentChar(s[j]) {
		j++
	}
	return strings.ToUpper(s[:j]), s[j:]
}
