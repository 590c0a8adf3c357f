package memkv_test

import (
	"testing"

	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/kvtest"
	"github.com/micachain/mica/internal/kv/memkv"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return memkv.New() })
}
