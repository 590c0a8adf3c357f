package main

// The logging flags every command shares: --log-level and --log-format (with their
// MICA_* variables), and --verbose, which is --log-level debug.

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// choiceValue is a flag taking one of a fixed list of words; anything else is refused
// when the flag (or its MICA_* variable) is parsed.
type choiceValue struct {
	value   string
	choices []string
}

func (c *choiceValue) String() string { return c.value }
func (c *choiceValue) Type() string   { return "string" }
func (c *choiceValue) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, v := range c.choices {
		if s == v {
			c.value = s
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", s, strings.Join(c.choices, ", "))
}

func addLogFlags(root *cobra.Command) {
	root.PersistentFlags().Var(&choiceValue{value: "info", choices: []string{"debug", "info", "warn", "error"}}, "log-level",
		"log level of the lines written to stderr: debug (one line per block), info (startup, shutdown, failures), warn, error ($MICA_LOG_LEVEL)")
	root.PersistentFlags().Var(&choiceValue{value: "text", choices: []string{"text", "json"}}, "log-format",
		"format of the log lines on stderr: text (key=value) or json (one object per line) ($MICA_LOG_FORMAT)")
}

// logger returns the logger the command's flags ask for, writing to stderr.
func logger(cmd *cobra.Command) *slog.Logger {
	level := slog.LevelInfo
	if f := cmd.Flags().Lookup("log-level"); f != nil {
		switch f.Value.String() {
		case "debug":
			level = slog.LevelDebug
		case "warn":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		}
		if v, _ := cmd.Flags().GetBool("verbose"); v && !f.Changed {
			level = slog.LevelDebug
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if f := cmd.Flags().Lookup("log-format"); f != nil && f.Value.String() == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// logArgs returns the flags that make a child process (a validator started by net up)
// log like this one.
func logArgs(cmd *cobra.Command) []string {
	var args []string
	level := "info"
	if f := cmd.Flags().Lookup("log-level"); f != nil {
		level = f.Value.String()
		if v, _ := cmd.Flags().GetBool("verbose"); v && !f.Changed {
			level = "debug"
		}
	}
	args = append(args, "--log-level", level)
	if f := cmd.Flags().Lookup("log-format"); f != nil {
		args = append(args, "--log-format", f.Value.String())
	}
	return args
}
