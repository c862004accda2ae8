// Package cfgcompat runs the real libxlutil (Debian's 4.17, through cgo)
// beside xfeat's parser on the same xl.cfg inputs and compares what they
// decide and store: accept or reject, and every setting (name, operator,
// recorded line, value, nested lists included). It exists for its tests and
// for `make bench` (xfeat's parser against libxlutil's on the same input).
package cfgcompat

/*
#cgo LDFLAGS: -lxlutil -lxenlight
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxlutil.h>

// libxlutil exports no way to list the settings of a config, so the walk
// reads its storage directly. These mirror the layout of XLU_Config and
// friends in libxlutil 4.17 (tools/libs/util/libxlu_internal.h), which has
// not changed since the library appeared; Compare cross-checks the walk with
// the exported getters on every input, so a layout change would fail the
// tests rather than go unnoticed.
struct xf_list { int avalues; int nvalues; struct xf_value **values; };
struct xf_value {
	enum XLU_ConfigValueType type;
	union { char *string; struct xf_list list; } u;
	int first_line, first_column, last_line, last_column;
};
struct xf_setting {
	struct xf_setting *next;
	char *name;
	struct xf_value *value;
	enum XLU_Operation op;
	int lineno;
};
struct xf_config { struct xf_setting *settings; FILE *report; char *config_source; };

typedef struct {
	XLU_Config *cfg;
	FILE *report;
	char *buf;
	size_t len;
} xf_run;

static int xf_read(xf_run *r, const char *name, const char *data, int len) {
	r->buf = NULL; r->len = 0;
	r->report = open_memstream(&r->buf, &r->len);
	if (!r->report) return -1;
	r->cfg = xlu_cfg_init(r->report, name);
	if (!r->cfg) return -1;
	return xlu_cfg_readdata(r->cfg, data, len);
}

static void xf_close(xf_run *r) {
	if (r->cfg) xlu_cfg_destroy(r->cfg);
	if (r->report) fclose(r->report);
}

// xf_parse_only is what the benchmark times: a whole libxlutil parse of
// data (set-up, scan, grammar, storage, teardown), reporting to report.
static int xf_parse_only(FILE *report, const char *data, int len) {
	XLU_Config *cfg = xlu_cfg_init(report, "bench");
	int rc;
	if (!cfg) return -1;
	rc = xlu_cfg_readdata(cfg, data, len);
	xlu_cfg_destroy(cfg);
	return rc;
}

static FILE *xf_devnull(void) { return fopen("/dev/null", "w"); }

static struct xf_setting *xf_first(XLU_Config *c) { return ((struct xf_config *)c)->settings; }
static struct xf_value *xf_item(struct xf_value *v, int i) { return v->u.list.values[i]; }
static XLU_ConfigValue *xf_pub(struct xf_value *v) { return (XLU_ConfigValue *)v; }
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Value is a value as libxlutil stores it.
type Value struct {
	List  bool
	Str   string
	Items []*Value
}

// Setting is one stored setting.
type Setting struct {
	Name  string
	Op    string
	Line  int
	Value *Value
}

// Result is what libxlutil made of one input.
type Result struct {
	Rc       int       // xlu_cfg_readdata's return: 0 accepted, an errno otherwise
	Settings []Setting // in file order (libxlutil keeps them newest first)
	Report   string    // everything libxlutil printed
}

// Read parses data with libxlutil under the source name name.
func Read(name string, data []byte) (*Result, error) {
	var r C.xf_run
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var p *C.char
	if len(data) > 0 {
		p = (*C.char)(C.CBytes(data))
		defer C.free(unsafe.Pointer(p))
	} else {
		p = C.CString("")
		defer C.free(unsafe.Pointer(p))
	}
	rc := C.xf_read(&r, cname, p, C.int(len(data)))
	defer func() {
		if r.buf != nil {
			C.free(unsafe.Pointer(r.buf))
		}
	}()
	defer C.xf_close(&r)
	if rc < 0 {
		return nil, fmt.Errorf("libxlutil: cannot set up a config")
	}
	res := &Result{Rc: int(rc)}
	if rc == 0 {
		for s := C.xf_first(r.cfg); s != nil; s = s.next {
			op := "="
			if s.op == C.XLU_OP_ADDITION {
				op = "+="
			}
			res.Settings = append(res.Settings, Setting{Name: C.GoString(s.name), Op: op, Line: int(s.lineno), Value: goValue(s.value)})
		}
		for i, j := 0, len(res.Settings)-1; i < j; i, j = i+1, j-1 {
			res.Settings[i], res.Settings[j] = res.Settings[j], res.Settings[i]
		}
		if err := crossCheck(r.cfg, res.Settings); err != nil {
			return nil, err
		}
	}
	C.fflush(r.report)
	res.Report = C.GoStringN(r.buf, C.int(r.len))
	return res, nil
}

func goValue(v *C.struct_xf_value) *Value {
	if v._type == C.XLU_LIST {
		l := (*C.struct_xf_list)(unsafe.Pointer(&v.u))
		out := &Value{List: true, Items: []*Value{}}
		for i := 0; i < int(l.nvalues); i++ {
			out.Items = append(out.Items, goValue(C.xf_item(v, C.int(i))))
		}
		return out
	}
	s := *(**C.char)(unsafe.Pointer(&v.u))
	return &Value{Str: C.GoString(s)}
}

// crossCheck compares the walked storage with what the exported getters
// return for the last setting of each name (the one xl sees).
func crossCheck(cfg *C.XLU_Config, sets []Setting) error {
	last := map[string]*Setting{}
	for i := range sets {
		last[sets[i].Name] = &sets[i]
	}
	for name, s := range last {
		cname := C.CString(name)
		var list *C.XLU_ConfigList
		var n C.int
		rc := C.xlu_cfg_get_list(cfg, cname, &list, &n, 1)
		if rc == 0 {
			if !s.Value.List || int(n) != len(s.Value.Items) {
				C.free(unsafe.Pointer(cname))
				return fmt.Errorf("walk/getter mismatch for %s: list of %d", name, n)
			}
			for i := 0; i < int(n); i++ {
				item := C.xlu_cfg_get_listitem2(list, C.int(i))
				if C.xlu_cfg_value_type(item) == C.XLU_STRING {
					var str *C.char
					C.xlu_cfg_value_get_string(cfg, item, &str, 1)
					if s.Value.Items[i].List || C.GoString(str) != s.Value.Items[i].Str {
						C.free(unsafe.Pointer(cname))
						return fmt.Errorf("walk/getter mismatch for %s[%d]", name, i)
					}
				} else if !s.Value.Items[i].List {
					C.free(unsafe.Pointer(cname))
					return fmt.Errorf("walk/getter mismatch for %s[%d]: list", name, i)
				}
			}
		} else {
			var str *C.char
			rc = C.xlu_cfg_get_string(cfg, cname, &str, 1)
			if rc != 0 || s.Value.List || C.GoString(str) != s.Value.Str {
				C.free(unsafe.Pointer(cname))
				return fmt.Errorf("walk/getter mismatch for %s: string rc=%d", name, rc)
			}
		}
		C.free(unsafe.Pointer(cname))
	}
	return nil
}

// Bench parses one input repeatedly with libxlutil, for benchmarks: the
// input is copied to C memory once, and libxlutil's messages go to
// /dev/null.
type Bench struct {
	data   *C.char
	len    C.int
	report *C.FILE
}

// NewBench prepares data for ParseOnce. Close releases it.
func NewBench(data []byte) *Bench {
	return &Bench{data: (*C.char)(C.CBytes(data)), len: C.int(len(data)), report: C.xf_devnull()}
}

// ParseOnce runs xlu_cfg_init, xlu_cfg_readdata and xlu_cfg_destroy and
// returns readdata's result.
func (b *Bench) ParseOnce() int { return int(C.xf_parse_only(b.report, b.data, b.len)) }

// Close frees the input.
func (b *Bench) Close() {
	C.free(unsafe.Pointer(b.data))
	C.fclose(b.report)
}

// String renders v like parser.Value.String, for comparisons and messages.
func (v *Value) String() string {
	if !v.List {
		return fmt.Sprintf("%q", v.Str)
	}
	s := "["
	for i, it := range v.Items {
		if i > 0 {
			s += ", "
		}
		s += it.String()
	}
	return s + "]"
}
