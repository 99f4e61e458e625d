package metrics

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// ParseText reads the Prometheus text format that Handler serves into
// sample → value, each sample named as the endpoint writes it: the name,
// with its labels in braces if it has any (sadb_calls_total{code="…",
// function="…"}). Comments and lines without a number are skipped.
func ParseText(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}
