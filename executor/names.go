package executor

import (
	"fmt"

	"github.com/dbapi-dev/dbapi/protocol"
)

// CheckNames refuses operations whose names the wire contract reserves
// (batch, outcome, durable.*: see protocol.Reserved). Both transports
// call it before they serve.
func (e *Executor) CheckNames() error {
	for _, op := range e.reg.Operations() {
		if why, reserved := protocol.Reserved(op.Name); reserved {
			return fmt.Errorf("operation %q: the name is reserved: %s", op.Name, why)
		}
	}
	return nil
}
