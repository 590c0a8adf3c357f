package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

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
	cmd.AddCommand(build, projectNewCommand())
	return cmd
}

func projectNewCommand() *cobra.Command {
	var dir, sdkDir string
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Create DIR/NAME, a counter application module using the Go SDK from --sdk (or MICA_SDK)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkProjectName(name); err != nil {
				return err
			}
			if sdkDir == "" {
				sdkDir = os.Getenv("MICA_SDK")
			}
			if sdkDir == "" {
				return errors.New("no SDK directory: pass --sdk DIR or set MICA_SDK to the Mica repository's sdk directory")
			}
			sdk, err := filepath.Abs(sdkDir)
			if err != nil {
				return err
			}
			if err := checkSDKDir(sdk); err != nil {
				return err
			}
			if dir == "" {
				dir = "."
			}
			parent, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			target := filepath.Join(parent, name)
			if _, err := os.Lstat(target); err == nil {
				return fmt.Errorf("%s already exists", target)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if err := os.MkdirAll(parent, 0o755); err != nil {
				return err
			}
			if err := writeProject(target, name, sdk); err != nil {
				os.RemoveAll(target)
				return err
			}
			return out(cmd, map[string]string{"path": target}, func(o io.Writer) { fmt.Fprintln(o, target) })
		},
	}
	cmd.Flags().StringVar(&dir, "path", "", "directory to create the project in (default: the current directory)")
	cmd.Flags().StringVar(&sdkDir, "sdk", "", "the Go SDK directory (module "+sdkModule+"; default: $MICA_SDK)")
	return cmd
}

var projectNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)

// Suffixes that would give NAME.go a build constraint (NAME_linux.go, NAME_test.go, ...).
var constraintSuffixes = strings.Fields(`test aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris wasip1 windows zos
	386 amd64 amd64p32 arm armbe arm64 arm64be loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc ppc64 ppc64le riscv riscv64 s390 s390x sparc sparc64 wasm`)

// checkProjectName accepts NAME as a one-element module path that is also a
// directory and file name: a letter, then letters, digits, '_', '.' and '-'.
func checkProjectName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("invalid project name %q: %s", name, why)
	}
	if !projectNameRE.MatchString(name) {
		return bad("a module name here is a letter followed by letters, digits, '_', '.' or '-'")
	}
	if strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return bad("it may not end with '.' or contain '..'")
	}
	if i := strings.LastIndexByte(name, '_'); i >= 0 {
		for _, s := range constraintSuffixes {
			if strings.EqualFold(name[i+1:], s) {
				return bad(fmt.Sprintf("a _%s suffix would make %s.go a constrained (or test) file", s, name))
			}
		}
	}
	if isStdPackage(name) {
		return bad("it is the path of a standard library package")
	}
	return nil
}

func isStdPackage(path string) bool {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), "src", path))
	return err == nil && fi.IsDir()
}

// checkSDKDir checks that dir holds the SDK module.
func checkSDKDir(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return fmt.Errorf("%s is not the Mica SDK: no go.mod (pass --sdk DIR or set MICA_SDK to the Mica repository's sdk directory)", dir)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			if m, err := strconv.Unquote(f[1]); err == nil {
				f[1] = m
			}
			if f[1] == sdkModule {
				return nil
			}
			return fmt.Errorf("%s is not the Mica SDK: its go.mod is for module %s, not %s", dir, f[1], sdkModule)
		}
	}
	return fmt.Errorf("%s is not the Mica SDK: its go.mod declares no module", dir)
}

// packageName derives a Go package name from a project name: lower case, with
// characters outside [a-z0-9_] replaced by '_', and an "app" prefix when the result
// does not start with a letter or would clash with a keyword or an imported name.
func packageName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	p := b.String()
	switch p {
	case "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for", "func", "go", "goto", "if",
		"import", "interface", "map", "package", "range", "return", "select", "struct", "switch", "type", "var",
		"init", "main", "sdk", "sdktest", "testing":
		return "app_" + p
	}
	if p == "" || !(p[0] >= 'a' && p[0] <= 'z') {
		return "app_" + p
	}
	return p
}

func writeProject(target, name, sdk string) error {
	sdkArg := sdk
	if strings.ContainsAny(sdkArg, " \t\"'`\\()") || sdkArg == "" {
		sdkArg = strconv.Quote(sdkArg)
	}
	pkg := packageName(name)
	imp := strconv.Quote(name)
	if pkg != name {
		imp = pkg + " " + imp
	}
	r := strings.NewReplacer("__MODULE__", name, "__PKG__", pkg, "__IMPORT__", imp, "__SDK__", sdkArg)
	reqs, sum, err := sdkRequirements(sdk)
	if err != nil {
		return err
	}
	files := []struct{ path, text string }{
		{"go.mod", tmplGoMod + reqs},
		{"go.sum", sum},
		{name + ".go", tmplApp},
		{name + "_test.go", tmplTest},
		{filepath.Join("contract", "main.go"), tmplContract},
		{filepath.Join("service", "main.go"), tmplService},
		{"README.md", tmplReadme},
	}
	for _, d := range []string{target, filepath.Join(target, "contract"), filepath.Join(target, "service")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(target, f.path), []byte(r.Replace(f.text)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sdkRequirements returns the SDK module's requirements as a go.mod block of indirect
// requirements, and the SDK's go.sum, for a project that replaces the SDK with the
// directory sdk: the Go tool needs both to build against the SDK's dependencies (the
// GraphQL engine) without `go mod tidy`.
func sdkRequirements(sdk string) (reqs, sum string, err error) {
	mod, err := os.ReadFile(filepath.Join(sdk, "go.mod"))
	if err != nil {
		return "", "", err
	}
	var lines []string
	inBlock := false
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(line)
		switch {
		case inBlock && len(f) > 0 && f[0] == ")":
			inBlock = false
		case inBlock && len(f) >= 2:
			lines = append(lines, "\t"+f[0]+" "+f[1]+" // indirect")
		case len(f) >= 2 && f[0] == "require" && f[1] == "(":
			inBlock = true
		case len(f) >= 3 && f[0] == "require":
			lines = append(lines, "\t"+f[1]+" "+f[2]+" // indirect")
		}
	}
	if len(lines) > 0 {
		reqs = "\nrequire (\n" + strings.Join(lines, "\n") + "\n)\n"
	}
	b, err := os.ReadFile(filepath.Join(sdk, "go.sum"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	return reqs, string(b), nil
}
