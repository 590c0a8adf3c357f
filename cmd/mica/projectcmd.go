package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
)

func projectCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Build applications written with the Go SDK"}
	build := &cobra.Command{
		Use:   "build DIR",
		Short: "Compile DIR/contract and DIR/service to DIR/build/contract.wasm and DIR/build/service.wasm (needs Go)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			for _, part := range []string{"contract", "service"} {
				if fi, err := os.Stat(filepath.Join(dir, part)); err != nil || !fi.IsDir() {
					return fmt.Errorf("%s has no %s/ directory (an application has a contract and a service, each a main package)", dir, part)
				}
			}
			if _, err := exec.LookPath("go"); err != nil {
				return errors.New("building an application needs the Go toolchain on PATH")
			}
			outDir := filepath.Join(dir, "build")
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			res := map[string]string{}
			for _, part := range []string{"contract", "service"} {
				out := filepath.Join(outDir, part+".wasm")
				fmt.Fprintf(cmd.ErrOrStderr(), "building %s...\n", part)
				b := exec.CommandContext(cmd.Context(), "go", "build", "-buildmode=c-shared", "-o", out, "./"+part)
				b.Dir = dir
				b.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
				if msg, err := b.CombinedOutput(); err != nil {
					return fmt.Errorf("build %s: %v\n%s", part, err, msg)
				}
				res[part] = out
			}
			return out(cmd, res, func(o io.Writer) { fmt.Fprintf(o, "%s\n%s\n", res["contract"], res["service"]) })
		},
	}
	cmd.AddCommand(build)
	return cmd
}
