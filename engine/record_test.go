package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sadb-dev/sadb/wfp"
)

// fillAll sets every exported field reachable from v to a value that is
// not zero and, for numbers and strings, differs from the others: pointers
// get values, slices two elements.
func fillAll(t *testing.T, v reflect.Value, n *uint64) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(t, v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1_800_000_000+int64(*n), int64(*n))))
			return
		}
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				t.Fatalf("%v has an unexported field %s: the test cannot see whether the record keeps it", v.Type(), v.Type().Field(i).Name)
			}
			fillAll(t, v.Field(i), n)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fillAll(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			fillAll(t, v.Index(i), n)
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		limit := uint64(math.MaxUint64) >> (64 - v.Type().Bits())
		v.SetUint(1 + (*n*0x9E3779B97F4A7C15)%limit)
	default:
		t.Fatalf("%v: kind %v is not handled", v.Type(), v.Kind())
	}
}

// fullRecord is a record with every field set (bundles without SAList,
// which records keep as SAs).
func fullRecord(t *testing.T) ctxRecord {
	var r ctxRecord
	var n uint64
	fillAll(t, reflect.ValueOf(&r).Elem(), &n)
	r.In.Bundle.SAList, r.Out.Bundle.SAList = nil, nil
	return r
}

// Every field of a record survives the binary form. A field added to
// ctxRecord or to a type it holds, and not to the codec, fails here.
func TestRecordCoversEveryField(t *testing.T) {
	want := fullRecord(t)
	b := appendCtxRecord(nil, &want)
	var got ctxRecord
	if err := decodeCtxRecord(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("record after the binary round trip (-want +got):\n%s", diff)
	}
	js, err := json.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a full record: %d bytes binary, %d JSON", len(b), len(js))

	// The zero record (nil pointers, zero times) round-trips too.
	var zero, z ctxRecord
	if err := decodeCtxRecord(appendCtxRecord(nil, &zero), &z); err != nil || !reflect.DeepEqual(zero, z) {
		t.Errorf("the zero record: %+v, %v", z, err)
	}
}

// A binary record cut short anywhere, or with bytes after its end, is
// refused with errRecord, never a panic.
func TestRecordDamaged(t *testing.T) {
	r := fullRecord(t)
	b := appendCtxRecord(nil, &r)
	for n := range len(b) {
		var got ctxRecord
		if err := decodeCtxRecord(b[:n], &got); !errors.Is(err, errRecord) {
			t.Fatalf("the first %d of %d bytes: %v, want errRecord", n, len(b), err)
		}
	}
	var got ctxRecord
	if err := decodeCtxRecord(append(bytes.Clone(b), 0), &got); !errors.Is(err, errRecord) {
		t.Errorf("a record with a byte after its end: %v", err)
	}
	// A slice count larger than the bytes left cannot make it allocate.
	huge := appendCtxRecord(nil, &ctxRecord{ID: 1, In: &bundleRecord{}})
	// The record ends with the bundle's SA count, its Added flag, the
	// Out flag and the ExpiredAt flag, each one zero byte.
	at := len(huge) - 4
	bad := append(append(bytes.Clone(huge[:at]), 0xff, 0xff, 0xff, 0xff, 0x0f), huge[at+1:]...)
	if err := decodeCtxRecord(bad, &got); !errors.Is(err, errRecord) || !strings.Contains(err.Error(), "elements in") {
		t.Errorf("a bundle claiming 2^32 SAs: %v", err)
	}
}

// Records a store wrote as JSON still load, as the same contexts; they are
// written back in the binary form.
func TestRecordJSONStillRead(t *testing.T) {
	st := newMapStore()
	e, _ := newTestEngine(t, Options{Store: st})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	fill(t, p, 3)
	e.Close()
	n := 0
	st.Load(func(kind RecordKind, key uint64, v []byte) error {
		if kind != RecordSAContext {
			return nil
		}
		n++
		if v[0] != recordBinaryV1 {
			t.Fatalf("context %d was stored as %q, not in binary", key, v[:1])
		}
		var r ctxRecord
		if err := decodeCtxRecord(v, &r); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := decodeCtx(js)
		if err != nil {
			t.Fatalf("the JSON form of context %d: %v", key, err)
		}
		fromBinary, err := decodeCtx(v)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := encodeCtx(fromJSON)
		b, _ := encodeCtx(fromBinary)
		if !bytes.Equal(a, b) || !bytes.Equal(b, v) {
			t.Errorf("context %d decodes differently from JSON and from binary", key)
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("%d context records, want 3", n)
	}
}

func BenchmarkRecordDecode(b *testing.B) {
	st := newMapStore()
	e, _ := newTestEngine(b, Options{Store: st})
	p := newPlumb(b, openAdmin(b, e))
	fill(b, p, 1)
	e.Close()
	var bin []byte
	st.Load(func(kind RecordKind, _ uint64, v []byte) error {
		if kind == RecordSAContext {
			bin = v
		}
		return nil
	})
	var r ctxRecord
	if err := decodeCtxRecord(bin, &r); err != nil {
		b.Fatal(err)
	}
	js, _ := json.Marshal(&r)
	for _, f := range []struct {
		name string
		rec  []byte
	}{{"Binary", bin}, {"JSON", js}} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.rec)))
			for b.Loop() {
				if _, err := decodeCtx(f.rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A record whose state does not agree with its SPI and bundles is refused
// as damaged; every state the engine writes is read back.
func TestRecordShape(t *testing.T) {
	st := newMapStore()
	e, _ := newTestEngine(t, Options{Store: st})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	tr := p.outTraffic
	created, _, err := api.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	spiSet, _, err := api.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.IPsecSaContextGetSpi1(spiSet, &p.getSpi); err != nil {
		t.Fatal(err)
	}
	plumbed := fill(t, p, 2)
	expired := plumbed[1]
	if err := api.IPsecSaContextExpire0(expired); err != nil {
		t.Fatal(err)
	}
	records := map[wfp.SAContextState]ctxRecord{}
	for _, id := range []uint64{created, spiSet, plumbed[0], expired} {
		c := e.ctxs.get(id)
		b, err := encodeCtx(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeCtx(b); err != nil {
			t.Fatalf("%v: a record the engine wrote is refused: %v", c.state, err)
		}
		var r ctxRecord
		if err := decodeCtxRecord(b, &r); err != nil {
			t.Fatal(err)
		}
		records[c.state] = r
	}
	if len(records) != 4 {
		t.Fatalf("states %v", slices.Collect(maps.Keys(records)))
	}
	damaged := []struct {
		name  string
		state wfp.SAContextState
		edit  func(r *ctxRecord)
	}{
		{"CreatedWithSPI", wfp.SAContextCreated, func(r *ctxRecord) { r.SPI, r.GetSpi = 300, new(wfp.IPsecGetSPI1) }},
		{"SPISetWithoutSPI", wfp.SAContextSPISet, func(r *ctxRecord) { r.SPI = 0 }},
		{"SPISetWithoutGetSpi", wfp.SAContextSPISet, func(r *ctxRecord) { r.GetSpi = nil }},
		{"OutboundAddedWithoutOutbound", wfp.SAContextOutboundAdded, func(r *ctxRecord) { r.Out = nil }},
		{"OutboundAddedWithoutInbound", wfp.SAContextOutboundAdded, func(r *ctxRecord) { r.In = nil }},
		{"InboundAddedWithOutbound", wfp.SAContextOutboundAdded, func(r *ctxRecord) { r.State = wfp.SAContextInboundAdded }},
		{"SPISetWithBundles", wfp.SAContextOutboundAdded, func(r *ctxRecord) { r.State = wfp.SAContextSPISet }},
		{"ExpiredWithoutInbound", wfp.SAContextExpired, func(r *ctxRecord) { r.In = nil }},
	}
	for _, d := range damaged {
		r := records[d.state]
		d.edit(&r)
		if _, err := decodeCtx(appendCtxRecord(nil, &r)); err == nil {
			t.Errorf("%s: a damaged record is read", d.name)
		}
	}
}
