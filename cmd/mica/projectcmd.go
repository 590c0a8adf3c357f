package main

import (
	"context"
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
	"golang.org/x/mod/modfile"

	"github.com/micachain/mica/internal/sdkdist"
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
			env, sdkVersion, err := sdkBuildEnv(cmd.Context(), dir)
			if err != nil {
				return err
			}
			outDir := filepath.Join(dir, "build")
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			res := map[string]string{}
			for _, part := range []string{"contract", "service"} {
				out := filepath.Join(outDir, part+".wasm")
				done := startProgress(cmd, "building the "+part)
				// -trimpath: the module holds no path of this machine, so the same
				// source builds the same bytes (the same module id and compiled-module
				// cache entry) wherever it lies, and Go's build cache serves a copy.
				b := exec.CommandContext(cmd.Context(), "go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./"+part)
				b.Dir = dir
				b.Env = append(append(os.Environ(), env...), "GOOS=wasip1", "GOARCH=wasm")
				msg, err := b.CombinedOutput()
				done(err)
				if err != nil {
					if sdkVersion != "" && sdkVersion != sdkdist.Version {
						msg = fmt.Appendf(msg, "\n%s requires the SDK %s but this mica binary carries %s: build it with a mica of that version, or change the SDK's version in its go.mod to %s", dir, sdkVersion, sdkdist.Version, sdkdist.Version)
					}
					return fmt.Errorf("build %s: %v\n%s", part, err, msg)
				}
				res[part] = out
			}
			return out(cmd, res, func(o io.Writer) { fmt.Fprintf(o, "%s\n%s\n", res["contract"], res["service"]) })
		},
	}
	cmd.AddCommand(build, projectNewCommand(), projectEnvCommand())
	return cmd
}

func projectNewCommand() *cobra.Command {
	var dir, sdkDir string
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Create DIR/NAME, a counter application module that requires the Go SDK " + sdkdist.Version + " (or a local SDK with --sdk)",
		Long: "Create DIR/NAME (DIR is --path, default the current directory), a counter application module.\n" +
			"Its go.mod requires " + sdkdist.Module + " " + sdkdist.Version + ", the SDK this binary carries: `mica project build`\n" +
			"serves it to Go from a module proxy under the user's cache directory (`mica project env` prints the\n" +
			"variables for running `go` by hand). With --sdk DIR (or MICA_SDK) go.mod replaces the SDK with that\n" +
			"local directory instead, for working on the SDK itself.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if _, err := exec.LookPath("go"); err != nil {
				return errors.New("mica project new needs the Go toolchain (go 1.26 or later) on PATH: install it from https://go.dev/dl/")
			}
			if err := checkProjectName(name); err != nil {
				return err
			}
			if sdkDir == "" {
				sdkDir = os.Getenv("MICA_SDK")
			}
			var sdk string
			if sdkDir != "" {
				var err error
				if sdk, err = filepath.Abs(sdkDir); err != nil {
					return err
				}
				if err := checkSDKDir(sdk); err != nil {
					return err
				}
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
				return fmt.Errorf("%s already exists: choose another name or --path", target)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if sdk == "" {
				// The generated go.mod requires the SDK by version: make it resolvable now,
				// so that `go test` works in the new project at once.
				proxy, err := sdkdist.DefaultDir()
				if err != nil {
					return err
				}
				if err := sdkdist.WriteProxy(proxy); err != nil {
					return err
				}
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
	cmd.Flags().StringVar(&sdkDir, "sdk", "", "use the local Go SDK directory DIR (module "+sdkModule+") through a replace directive instead of "+sdkdist.Version+" (default: $MICA_SDK)")
	return cmd
}

func projectEnvCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "Print the environment (export lines) that lets `go build` and `go test` find the Go SDK " + sdkdist.Version,
		Long: "Write the SDK this binary carries (" + sdkdist.Module + " " + sdkdist.Version + ") to a Go module proxy\n" +
			"under the user's cache directory and print the GOPROXY and GONOSUMDB settings that put it first.\n" +
			"Use it as: eval \"$(mica project env)\"",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := exec.LookPath("go"); err != nil {
				return errors.New("the Go toolchain is not on PATH: install it from https://go.dev/dl/")
			}
			env, err := sdkProxyEnv(cmd.Context())
			if err != nil {
				return err
			}
			m := map[string]string{}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				m[k] = v
			}
			return out(cmd, m, func(o io.Writer) {
				for _, kv := range env {
					k, v, _ := strings.Cut(kv, "=")
					fmt.Fprintf(o, "export %s=%s\n", k, shellQuote(v))
				}
			})
		},
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:@%+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sdkProxyEnv writes the SDK's module proxy and returns GOPROXY and GONOSUMDB with
// it first, followed by the user's settings (as `go env` reports them).
func sdkProxyEnv(ctx context.Context) ([]string, error) {
	proxy, err := sdkdist.DefaultDir()
	if err != nil {
		return nil, err
	}
	if err := sdkdist.WriteProxy(proxy); err != nil {
		return nil, err
	}
	b, err := exec.CommandContext(ctx, "go", "env", "GOPROXY", "GONOSUMDB").Output()
	if err != nil {
		return nil, fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for len(lines) < 2 {
		lines = append(lines, "")
	}
	return sdkdist.Env(proxy, lines[0], lines[1]), nil
}

// sdkBuildEnv returns the environment `go build` needs in the project at dir: the
// SDK's module proxy when go.mod requires the SDK without replacing it (and the version
// it requires), else nothing.
func sdkBuildEnv(ctx context.Context, dir string) (env []string, version string, err error) {
	// The application may be a package of a larger module (examples/counter is one of
	// the examples module): its go.mod is in dir or a parent.
	modPath := ""
	for d, _ := filepath.Abs(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			modPath = filepath.Join(d, "go.mod")
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if modPath == "" {
		return nil, "", fmt.Errorf("%s is not in a Go module (no go.mod there or above): create an application with `mica project new NAME`", dir)
	}
	b, err := os.ReadFile(modPath)
	if err != nil {
		return nil, "", err
	}
	f, err := modfile.ParseLax(modPath, b, nil)
	if err != nil {
		return nil, "", err
	}
	for _, r := range f.Replace {
		if r.Old.Path == sdkModule {
			return nil, "", nil
		}
	}
	for _, r := range f.Require {
		if r.Mod.Path == sdkModule {
			env, err := sdkProxyEnv(ctx)
			return env, r.Mod.Version, err
		}
	}
	return nil, "", nil
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

// writeProject writes the project's files into target. With sdk == "" go.mod requires
// the SDK version this binary carries; otherwise it replaces the SDK with directory sdk.
func writeProject(target, name, sdk string) error {
	pkg := packageName(name)
	imp := strconv.Quote(name)
	if pkg != name {
		imp = pkg + " " + imp
	}
	var gomod, gosum, readmeSDK, env string
	if sdk == "" {
		d, err := sdkdist.Get()
		if err != nil {
			return err
		}
		sdkSum, _ := d.File("go.sum")
		reqs := sdkRequirements(d.GoMod)
		gomod = strings.NewReplacer("__VERSION__", sdkdist.Version).Replace(tmplGoMod) + reqs
		gosum = string(sdkSum) + d.Sum
		readmeSDK = tmplReadmeVersioned
		env = "eval \"$(mica project env)\"                      # lets go find the SDK (see below)\n"
	} else {
		sdkArg := sdk
		if strings.ContainsAny(sdkArg, " \t\"'`\\()") {
			sdkArg = strconv.Quote(sdkArg)
		}
		mod, err := os.ReadFile(filepath.Join(sdk, "go.mod"))
		if err != nil {
			return err
		}
		sum, err := os.ReadFile(filepath.Join(sdk, "go.sum"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		gomod = strings.NewReplacer("__SDK__", sdkArg).Replace(tmplGoModLocal) + sdkRequirements(mod)
		gosum = string(sum)
		readmeSDK = tmplReadmeLocal
	}
	r := strings.NewReplacer("__MODULE__", name, "__PKG__", pkg, "__IMPORT__", imp, "__VERSION__", sdkdist.Version, "__ENV__", env)
	files := []struct{ path, text string }{
		{"go.mod", gomod},
		{"go.sum", gosum},
		{name + ".go", tmplApp},
		{name + "_test.go", tmplTest},
		{filepath.Join("contract", "main.go"), tmplContract},
		{filepath.Join("service", "main.go"), tmplService},
		{"README.md", tmplReadme + readmeSDK},
	}
	for _, d := range []string{target, filepath.Join(target, "contract"), filepath.Join(target, "service")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	for _, f := range files {
		text := f.text
		if f.path != "go.mod" && f.path != "go.sum" {
			text = r.Replace(text)
		} else {
			text = strings.ReplaceAll(text, "__MODULE__", name)
		}
		if err := os.WriteFile(filepath.Join(target, f.path), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sdkRequirements returns the requirements in the SDK's go.mod as a go.mod block of
// indirect requirements: with the SDK's go.sum, the Go tool builds the project against
// the SDK's dependencies (the GraphQL engine) without `go mod tidy`.
func sdkRequirements(mod []byte) string {
	f, err := modfile.ParseLax("go.mod", mod, nil)
	if err != nil || len(f.Require) == 0 {
		return ""
	}
	var lines []string
	for _, r := range f.Require {
		lines = append(lines, "\t"+r.Mod.Path+" "+r.Mod.Version+" // indirect")
	}
	return "\nrequire (\n" + strings.Join(lines, "\n") + "\n)\n"
}
