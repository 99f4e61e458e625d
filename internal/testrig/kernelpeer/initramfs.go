package kernelpeer

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The initramfs is an uncompressed newc cpio archive (the kernel unpacks
// it without a decompressor, which matters under emulation):
//
//	/init                     the script below, PID 1
//	/bin/busybox + applets    busybox-static (sh, mount, modprobe, ...)
//	/sbin/xip                 the host's ip(8): busybox's ip has no xfrm
//	/sbin/ethtool             the host's ethtool: offloads off
//	/lib..., /lib64/ld-...    their shared libraries
//	/sbin/kpagent             the command channel (static Go)
//	/lib/modules/<version>/   the modules below and their dependencies
//
// ip is named xip so that busybox's shell never picks its own ip applet.

// moduleDirs are copied whole: the crypto algorithms the kernel loads on
// demand by alias (rfc4106(gcm(aes)), cbc(aes), hmac(sha256), ...) and
// the IP and XFRM stacks.
var moduleDirs = []string{
	"kernel/crypto",
	"kernel/arch/x86/crypto",
	"kernel/lib",
	"kernel/net/xfrm",
	"kernel/net/ipv4",
	"kernel/net/ipv6",
	"kernel/net/key",
}

// bootModules are loaded by /init, in order; their dependencies come
// along from modules.dep.
var bootModules = []string{"virtio_pci", "virtio_net", "virtio_console", "xfrm_user", "esp4", "esp6", "ah4", "ah6"}

// initramfsSpec says what goes into the archive.
type initramfsSpec struct {
	modules string // /lib/modules/<version>
	agent   string // the built kpagent
	init    string // the /init script
}

// buildInitramfs writes the archive to out.
func buildInitramfs(out string, s initramfsSpec) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := newCpio(f)
	err = s.write(w)
	if err == nil {
		err = w.close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s initramfsSpec) write(w *cpioWriter) error {
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "etc", "root"} {
		w.dir(d)
	}
	if err := w.file("init", 0o755, []byte(s.init)); err != nil {
		return err
	}
	if err := w.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n")); err != nil {
		return err
	}
	// busybox and its applets.
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return err
	}
	if err := requireStatic(bb); err != nil {
		return err
	}
	if err := w.copyFile("bin/busybox", bb, 0o755); err != nil {
		return err
	}
	list, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "bin/busybox" {
			continue
		}
		rel, _ := filepath.Rel(path.Dir(a), "bin/busybox")
		if err := w.symlink(a, rel); err != nil {
			return err
		}
	}
	// ip and ethtool from the host, with their libraries.
	for _, t := range []struct{ name, as string }{{"ip", "sbin/xip"}, {"ethtool", "sbin/ethtool"}} {
		p, err := exec.LookPath(t.name)
		if err != nil {
			return err
		}
		if err := w.copyFile(t.as, p, 0o755); err != nil {
			return err
		}
		libs, err := sharedLibs(p)
		if err != nil {
			return err
		}
		for _, l := range libs {
			if err := w.copyFile(strings.TrimPrefix(l, "/"), l, 0o755); err != nil {
				return err
			}
		}
	}
	if err := w.copyFile("sbin/kpagent", s.agent, 0o755); err != nil {
		return err
	}
	return s.writeModules(w)
}

// writeModules copies moduleDirs, the boot modules and the closure of
// their dependencies, and the module index files.
func (s initramfsSpec) writeModules(w *cpioWriter) error {
	dep, err := readModulesDep(filepath.Join(s.modules, "modules.dep"))
	if err != nil {
		return err
	}
	want := map[string]bool{}
	var add func(m string)
	add = func(m string) {
		if want[m] {
			return
		}
		want[m] = true
		for _, d := range dep[m] {
			add(d)
		}
	}
	byName := map[string]string{}
	for m := range dep {
		byName[moduleName(m)] = m
	}
	for _, name := range bootModules {
		m, ok := byName[name]
		if !ok {
			return fmt.Errorf("module %s is not in %s/modules.dep", name, s.modules)
		}
		add(m)
	}
	for m := range dep {
		for _, d := range moduleDirs {
			if strings.HasPrefix(m, d+"/") {
				add(m)
			}
		}
	}
	root := strings.TrimPrefix(s.modules, "/")
	mods := make([]string, 0, len(want))
	for m := range want {
		mods = append(mods, m)
	}
	slices.Sort(mods)
	for _, m := range mods {
		if err := w.copyFile(path.Join(root, m), filepath.Join(s.modules, m), 0o644); err != nil {
			return err
		}
	}
	idx, _ := filepath.Glob(filepath.Join(s.modules, "modules.*"))
	for _, p := range idx {
		if err := w.copyFile(path.Join(root, filepath.Base(p)), p, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readModulesDep parses modules.dep: "path: dep dep ...".
func readModulesDep(p string) (map[string][]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dep := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		dep[m] = strings.Fields(rest)
	}
	return dep, sc.Err()
}

var koSuffix = regexp.MustCompile(`\.ko(\.[a-z]+)?$`)

// moduleName is the name modprobe knows a module file by (dashes are
// underscores to modprobe).
func moduleName(p string) string {
	return strings.ReplaceAll(koSuffix.ReplaceAllString(path.Base(p), ""), "-", "_")
}

var lddPath = regexp.MustCompile(`(/[^ ]+) \(0x`)

// sharedLibs lists the shared libraries (with the dynamic loader) the ELF
// binary p needs, as ldd resolves them.
func sharedLibs(p string) ([]string, error) {
	out, err := exec.Command("ldd", p).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", p, err)
	}
	var libs []string
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	return libs, nil
}

// requireStatic fails unless p is a statically linked ELF binary.
func requireStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (install busybox-static)", p)
		}
	}
	return nil
}

// cpioWriter writes a newc ("070701") cpio archive, creating the parents
// of every entry before it.
type cpioWriter struct {
	w     *bufio.Writer
	ino   uint32
	dirs  map[string]bool
	files map[string]bool
	err   error
}

func newCpio(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20), ino: 1, dirs: map[string]bool{".": true, "": true}, files: map[string]bool{}}
}

const (
	sIFREG = 0o100000
	sIFDIR = 0o040000
	sIFLNK = 0o120000
)

func (c *cpioWriter) header(name string, mode uint32, size int) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&0o170000 == sIFDIR {
		nlink = 2
	}
	_, c.err = fmt.Fprintf(c.w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	if c.err == nil {
		_, c.err = c.w.WriteString(name + "\x00")
	}
	c.pad(110 + len(name) + 1)
}

func (c *cpioWriter) pad(n int) {
	if c.err == nil && n%4 != 0 {
		_, c.err = c.w.Write(make([]byte, 4-n%4))
	}
}

func (c *cpioWriter) dir(name string) {
	name = path.Clean(name)
	if c.dirs[name] {
		return
	}
	c.dir(path.Dir(name))
	c.dirs[name] = true
	c.header(name, sIFDIR|0o755, 0)
}

func (c *cpioWriter) file(name string, perm uint32, data []byte) error {
	c.dir(path.Dir(name))
	c.header(name, sIFREG|perm, len(data))
	if c.err == nil {
		_, c.err = c.w.Write(data)
	}
	c.pad(len(data))
	return c.err
}

// copyFile adds the file at src (following symlinks) as name, once.
func (c *cpioWriter) copyFile(name, src string, perm uint32) error {
	if c.files[name] {
		return nil
	}
	c.files[name] = true
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return c.file(name, perm, data)
}

func (c *cpioWriter) symlink(name, target string) error {
	c.dir(path.Dir(name))
	c.header(name, sIFLNK|0o777, len(target))
	if c.err == nil {
		_, c.err = c.w.WriteString(target)
	}
	c.pad(len(target))
	return c.err
}

func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0)
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.err
}
