package accesstest_test

import (
	"testing"

	"github.com/omamori-project/omamori/internal/access"
	"github.com/omamori-project/omamori/internal/access/accesstest"
)

func TestMemoryQueue(t *testing.T) {
	accesstest.ReviewQueue(t, func(*testing.T) access.ReviewQueue { return access.NewMemoryQueue() })
}
