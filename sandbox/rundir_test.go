package sandbox

import (
	"path/filepath"
	"testing"
)

// Every command resolves the host's run directory the same way: --rundir,
// else the directory of XENSTORED_PATH's DIR/socket, else the default.
func TestRundir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "")
	def := DefaultRundir()
	for _, c := range []struct {
		flag, env string
		dir, from string
	}{
		{"", "", def, FromDefault},
		{"/tmp/a", "", "/tmp/a", FromFlag},
		{"", "/tmp/h/socket", "/tmp/h", FromEnv},
		{"/tmp/a", "/tmp/h/socket", "/tmp/a", FromFlag},
		{"", "rel/socket", "rel", FromEnv},
		// Not a host's socket path: the xenbus device, another name.
		{"", "/dev/xen/xenbus", def, FromDefault},
		{"", "/tmp/h/sock", def, FromDefault},
	} {
		t.Setenv("XENSTORED_PATH", c.env)
		dir, from := Rundir(c.flag)
		if dir != c.dir || from != c.from {
			t.Errorf("Rundir(%q) with XENSTORED_PATH=%q: %q (%s), want %q (%s)", c.flag, c.env, dir, from, c.dir, c.from)
		}
	}
	// Status and Stop without a rundir look where Rundir says.
	d := t.TempDir()
	t.Setenv("XENSTORED_PATH", filepath.Join(d, SocketName))
	st, err := Status(t.Context(), "")
	if err != nil || st.Rundir != d || st.Socket != filepath.Join(d, SocketName) {
		t.Errorf("Status: %+v %v, want rundir %s", st, err, d)
	}
}
