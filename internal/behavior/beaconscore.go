package behavior

import (
	"math"
	"slices"
)

// BeaconScore is the RITA-style score of one pair's connections: four sub-scores in [0, 1] and
// their weighted sum.
//
// The method follows RITA's published description of its beacon analysis (activecm/rita,
// analysis/beacons.go, v5): a beacon calls home at regular intervals (timestamp score), sends
// requests of the same size (data-size score), keeps at it for hours (duration score) and
// connects about as often every hour (histogram score).
type BeaconScore struct {
	Score, Timestamp, DataSize, Duration, Histogram float64
	Connections                                     int // connections scored
}

// scoreBeacon scores a pair from its connection times (unix seconds, any order, repeats
// allowed) and sizes (bytes sent by the source per connection), within the dataset span
// [dsMin, dsMax] seen by the tracker. It sorts ts and sizes in place. ok is false when there is
// too little to score: fewer than 4 timestamps or 3 distinct intervals, or fewer than 3 sizes.
func scoreBeacon(c *BeaconConfig, ts []int64, sizes []float64, dsMin, dsMax int64) (BeaconScore, bool) {
	if len(ts) < 4 || len(sizes) < 3 || dsMax <= dsMin {
		return BeaconScore{}, false
	}
	slices.Sort(ts)
	// Intervals between consecutive connections; connections in the same second add nothing
	// to the regularity and are left out of the statistics.
	deltas := make([]float64, 0, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d > 0 {
			deltas = append(deltas, float64(d))
		}
	}
	if len(deltas) < 3 {
		return BeaconScore{}, false
	}
	slices.Sort(deltas)
	tsScore := statScore(deltas, 1)
	slices.Sort(sizes)
	dsScore := statScore(sizes, 0)

	hist := hourHistogram(ts, dsMin, dsMax, 24)
	bars, run := histBars(hist)
	histScore := max(cvScore(hist), bimodalScore(hist, bars, c))
	durScore := 0.0
	if bars >= c.DurMinHours && ts[len(ts)-1] > ts[0] {
		coverage := min(1, ceil3(float64(ts[len(ts)-1]-ts[0])/float64(dsMax-dsMin)))
		consistency := min(1, ceil3(float64(run)/float64(c.DurIdealConsecutive)))
		durScore = max(coverage, consistency)
	}
	s := BeaconScore{
		Timestamp: tsScore, DataSize: dsScore, Duration: durScore, Histogram: histScore,
		Connections: len(ts),
	}
	s.Score = round3(tsScore*c.TimestampWeight + dsScore*c.DataSizeWeight +
		durScore*c.DurationWeight + histScore*c.HistogramWeight)
	return s, true
}

// statScore is the mean of two regularity measures of sorted values: 1 - |Bowley skewness|
// (a beacon's intervals and sizes are symmetric about their median) and 1 - MADM/median (they
// hardly deviate from it). A skew over an interquartile range under 10 (seconds or bytes) is
// noise and counts as none; a median under 1 gives the MADM part the score noMedian.
func statScore(sorted []float64, noMedian float64) float64 {
	q1, q2, q3 := quartiles(sorted)
	skew := 0.0
	if den := q3 - q1; den >= 10 && q2 != q1 && q2 != q3 {
		skew = (q1 + q3 - 2*q2) / den
	}
	skewScore := 1 - math.Abs(skew)

	madmScore := noMedian
	if q2 >= 1 {
		dev := make([]float64, len(sorted))
		for i, v := range sorted {
			dev[i] = math.Abs(v - q2)
		}
		slices.Sort(dev)
		madmScore = (q2 - median(dev)) / q2
	}
	if madmScore < 0 || math.IsNaN(madmScore) {
		madmScore = 0
	}
	return round3((skewScore + madmScore) / 2)
}

// quartiles of sorted data, as the montanaflynn/stats package that RITA uses computes them:
// the medians of the lower and upper halves, leaving out the middle value of an odd count.
func quartiles(s []float64) (q1, q2, q3 float64) {
	n := len(s)
	q2 = median(s)
	if n%2 == 0 {
		return median(s[:n/2]), q2, median(s[n/2:])
	}
	return median(s[:n/2]), q2, median(s[n/2+1:])
}

func median(s []float64) float64 {
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// hourHistogram counts sorted connection times into bins equal parts of [lo, hi].
func hourHistogram(sorted []int64, lo, hi int64, bins int) []int {
	h := make([]int, bins)
	step := float64(hi-lo) / float64(bins)
	for _, t := range sorted {
		i := int(float64(t-lo) / step)
		h[min(max(i, 0), bins-1)]++
	}
	return h
}

// histBars returns how many bins are not empty and the longest run of non-empty bins,
// wrapping from the end of the span to its start.
func histBars(h []int) (bars, run int) {
	cur := 0
	for i := range 2 * len(h) {
		if h[i%len(h)] > 0 {
			cur++
			run = max(run, cur)
		} else {
			cur = 0
		}
		if i < len(h) && h[i] > 0 {
			bars++
		}
	}
	return bars, min(run, len(h))
}

// cvScore is 1 - the coefficient of variation of the hourly counts: a flat histogram scores 1.
func cvScore(h []int) float64 {
	total := 0
	for _, v := range h {
		total += v
	}
	if total == 0 {
		return 0
	}
	mean := float64(total) / float64(len(h))
	var ss float64
	for _, v := range h {
		d := float64(v) - mean
		ss += d * d
	}
	cv := math.Sqrt(ss/float64(len(h))) / mean
	if cv > 1 {
		return 0
	}
	return round3(1 - cv)
}

// bimodalScore rewards histograms made of two heights (a beacon that slows down at night):
// the share of non-empty hours whose count falls in the two commonest height groups, where a
// group is a band of HistModeSensitivity times the largest count, after dropping
// HistBimodalOutliers hours as outliers. Needs HistBimodalMinHours non-empty hours.
func bimodalScore(h []int, bars int, c *BeaconConfig) float64 {
	minHours := c.HistBimodalMinHours
	if minHours < 6 {
		minHours = 11
	}
	if bars < minHours {
		return 0
	}
	largest := slices.Max(h)
	band := math.Ceil(float64(largest) * c.HistModeSensitivity)
	groups := map[int]int{}
	for _, v := range h {
		if v > 0 {
			groups[int(math.Floor(float64(v)/band)*band)]++
		}
	}
	first, second := 0, 0
	for _, n := range groups {
		if n > first {
			first, second = n, first
		} else if n > second {
			second = n
		}
	}
	fit := float64(first+second) / math.Max(float64(bars-c.HistBimodalOutliers), 1)
	return min(1, round3(fit))
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
func ceil3(x float64) float64  { return math.Ceil(x*1000) / 1000 }
