package access_test

import (
	"context"
	"fmt"
	"time"

	"github.com/omamori-project/omamori/internal/access"
)

func ExampleDecider_Decide() {
	dir := access.NewDirectory()
	dir.PutStaff(
		access.Staff{ID: "D001", Role: "doctor", Department: "internal_medicine", LastTraining: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)},
		access.Staff{ID: "N002", Role: "nurse", Department: "emergency", LastTraining: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
	)
	dir.AddAssignment(access.Assignment{Staff: "D001", Patient: "P001"})
	queue := access.NewMemoryQueue()
	d, err := access.New("tokyo-general", access.Options{Directory: dir, Reviews: queue})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	ward := access.Device{Managed: true, Compliant: true, Network: access.NetworkWard}
	at := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC) // 10:00 in Tokyo

	for _, req := range []access.Request{
		{Time: at, Subject: access.Subject{ID: "D001"}, Action: "view", Resource: access.Resource{Patient: "P001", DataType: "chart"}, Device: ward},
		{Time: at, Subject: access.Subject{ID: "N002"}, Action: "view", Resource: access.Resource{Patient: "P001", DataType: "chart"}, Device: ward},
		{Time: at, Subject: access.Subject{ID: "N002"}, Action: "view", Resource: access.Resource{Patient: "P001", DataType: "chart"}, Device: ward,
			PurposeOfUse: "BTG", Reason: "心肺停止で搬送"},
	} {
		dec := d.Decide(ctx, req)
		fmt.Println(dec.Subject.ID, dec.Decision, dec.Policies, dec.Obligations)
	}
	pending, _ := queue.Pending(ctx, "tokyo-general")
	fmt.Println("to review:", len(pending))
	// Output:
	// D001 allow [care-assigned] [log]
	// N002 deny [] [log]
	// N002 allow [break-glass] [log notify_privacy_officer review]
	// to review: 1
}
